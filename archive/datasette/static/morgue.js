// The reading room's only script: the "Copy citation" button. (Archived pages never run scripts.)
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const text = source ? source.textContent : "";
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch (err) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    done = document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = done ? "Copied ✓" : "Press Ctrl+C to copy";
  button.dataset.copied = done ? "1" : "0";
  setTimeout(() => { button.textContent = label; }, 2500);
});

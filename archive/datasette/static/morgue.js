// The reading room's script: the "Copy citation" button and the search page's facet counts. (Archived pages never run scripts.)
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

// The search page shows its results first; the facet counts come from a second request, made here once
// the page is shown. (Without JavaScript, the link in their place asks for the page with the counts in it.)
async function loadFacets() {
  const box = document.getElementById("morgue-facet-counts");
  if (!box || !box.dataset.src) return;
  const waiting = document.createElement("p");
  waiting.className = "morgue-facets-loading";
  waiting.textContent = "Counting by site, author, language and year…";
  box.replaceChildren(waiting);
  try {
    const response = await fetch(box.dataset.src, {headers: {Accept: "text/html"}});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    box.innerHTML = await response.text();
    const counted = box.querySelector("[data-total-text]");
    const total = document.querySelector(".morgue-total[data-capped='1']");
    if (counted && total) {
      total.textContent = counted.dataset.totalText;
      total.removeAttribute("title");
    }
    box.dataset.loaded = "1";
  } catch (err) {
    waiting.textContent = "The counts could not be loaded (" + err.message + ").";
    box.dataset.loaded = "0";
  }
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", loadFacets);
else loadFacets();

// tripkey dashboard: copy buttons and live refresh. Everything else works without script.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
  } catch (error) {
    // Without clipboard access (plain HTTP on another host), select the text for Ctrl-C.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl-C";
  }
  setTimeout(() => { button.textContent = label; }, 2000);
});

// Pages that show live data reload on their own, but never while someone is typing in them.
const refresh = Number(document.body.dataset.refresh || 0);
if (refresh > 0) {
  let touched = false;
  document.addEventListener("input", () => { touched = true; });
  setInterval(() => {
    const active = document.activeElement;
    const typing = active && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
    if (!touched && !typing && document.visibilityState === "visible") {
      window.location.reload();
    }
  }, refresh * 1000);
}

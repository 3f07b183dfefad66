// Batch page: poll the JSON status endpoint and update the progress bar and counts until the batch ends.
import { gettext, statusText } from "../annotate/i18n.js";

const root = document.getElementById("batch");

function render(status) {
  const bar = document.getElementById("batch-progress");
  bar.max = Math.max(status.total, 1);
  bar.value = status.processed;
  bar.textContent = `${status.processed} / ${status.total}`;
  for (const el of root.querySelectorAll("[data-field]")) {
    const key = el.dataset.field;
    if (key === "rejections") {
      el.replaceChildren();
      const entries = Object.entries(status.rejections);
      for (const [code, n] of entries) {
        const li = document.createElement("li");
        const c = document.createElement("code");
        c.textContent = code; // textContent: never parsed as HTML
        li.append(`${(status.reasons || {})[code] || code} `, c, `: ${n}`); // the reason in the page's language
        el.append(li);
      }
      if (!entries.length) {
        const li = document.createElement("li");
        li.className = "muted";
        li.textContent = gettext("None");
        el.append(li);
      }
    } else if (key in status) {
      el.textContent = key === "status" ? statusText(status[key]) : String(status[key]);
    }
  }
}

async function poll() {
  try {
    const response = await fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (response.ok) {
      const status = await response.json();
      render(status);
      if (status.finished) {
        if (root.dataset.finished !== "1") window.location.reload(); // show the final error list
        return;
      }
    }
  } catch (err) {
    console.warn("status poll failed", err);
  }
  setTimeout(poll, 1000);
}

if (root && root.dataset.finished !== "1") setTimeout(poll, 500);

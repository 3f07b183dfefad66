// Export buttons: POST to the API, then poll the export's status and update its progress bar.
// No inline script/style (CSP): state comes from data-* attributes, progress is a <progress> element.

import { fmt, gettext, statusText } from "../annotate/i18n.js";

const csrf = () => (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] || "";

async function api(url, options = {}) {
  const res = await fetch(url, {
    credentials: "same-origin",
    ...options,
    headers: { Accept: "application/json", "X-CSRFToken": csrf(), ...(options.headers || {}) },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || `HTTP ${res.status}`);
  return body;
}

// Like the page's own filesizeformat: a small export reads "12.3 KB", never "0.0 MB".
export function fileSize(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} ${units[0]}` : `${value.toFixed(1)} ${units[unit]}`;
}

function render(li, exp) {
  li.dataset.export = exp.id;
  li.dataset.status = exp.status;
  li.querySelector("progress").value = exp.status === "done" ? 1 : exp.progress;
  const status = li.querySelector(".ds-status");
  status.textContent = statusText(exp.status) + (exp.error ? `: ${exp.error}` : exp.status === "running" ? ` ${Math.round(exp.progress * 100)}%` : "");
  const link = li.querySelector(".ds-download");
  if (exp.download_url) {
    link.href = exp.download_url;
    link.textContent = fmt(gettext("Download (%(size)s)"), { size: fileSize(exp.size) });
    link.classList.remove("hidden");
  } else {
    link.classList.add("hidden");
  }
}

async function poll(li) {
  while (li.dataset.status === "queued" || li.dataset.status === "running") {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      render(li, await api(`/api/exports/${li.dataset.export}/`));
    } catch (err) {
      li.querySelector(".ds-status").textContent = fmt(gettext("error: %(message)s"), { message: err.message });
      return;
    }
  }
}

function exportRequest(li) {
  const body = { format: li.dataset.format };
  const folders = li.querySelector("select[name=folder_names]");
  if (folders && folders.value !== "index") body.folder_names = folders.value;
  return body;
}

for (const li of document.querySelectorAll(".ds-export")) {
  li.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = li.querySelector("button");
    button.disabled = true;
    try {
      const exp = await api(`/api/datasets/${li.dataset.version}/exports/`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(exportRequest(li)),
      });
      render(li, exp);
      await poll(li);
    } catch (err) {
      li.querySelector(".ds-status").textContent = fmt(gettext("error: %(message)s"), { message: err.message });
    } finally {
      button.disabled = false;
    }
  });
  if (li.dataset.status === "queued" || li.dataset.status === "running") poll(li);
}

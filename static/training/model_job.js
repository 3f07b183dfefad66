// A model job's page: follow a queued or running job (reload when it changes state), and on a label-error job's
// suspects, j/k move between rows, r relabels the focused row with the suggestion, v sends it to review.

const job = document.getElementById("job");

async function follow() {
  while (job && (job.dataset.status === "queued" || job.dataset.status === "running")) {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      const res = await fetch(job.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await res.json();
      job.querySelector("progress").value = body.progress;
      if (body.status !== job.dataset.status) {
        window.location.reload();
        return;
      }
    } catch {
      return;
    }
  }
}

const rows = [...document.querySelectorAll("[data-testid=suspect]")];
if (rows.length) rows[0].focus();
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || !rows.length) return;
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
  const row = target.closest ? target.closest("[data-testid=suspect]") : null;
  const at = rows.indexOf(row);
  const key = event.key.toLowerCase();
  if (key === "j" || key === "k") {
    const to = Math.min(rows.length - 1, Math.max(0, at + (key === "j" ? 1 : -1)));
    rows[at < 0 ? 0 : to].focus();
    event.preventDefault();
  } else if ((key === "r" || key === "v") && row) {
    const button = row.querySelector(key === "r" ? "[data-testid=relabel]" : "[data-testid=send-review]");
    if (button) {
      button.click();
      event.preventDefault();
    }
  }
});
follow();

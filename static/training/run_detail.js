// Live training curves and the confusion-matrix heat map, drawn on <canvas>; polls the run's JSON endpoint.
import { gettext, statusText } from "../annotate/i18n.js";

const root = document.getElementById("run-charts");
const COLORS = { train: "#1a73e8", val: "#e8710a" };

function drawLines(canvas, series, { yMax = null } = {}) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 36;
  ctx.clearRect(0, 0, w, h);
  const points = series.flatMap((s) => s.values.filter((v) => v != null));
  canvas.dataset.empty = points.length ? "" : "1";
  if (!points.length) { // no epoch yet: say so, rather than an axis of "0.00" five times
    ctx.fillStyle = "#5f6368"; ctx.font = "13px system-ui"; ctx.textAlign = "center";
    ctx.fillText(gettext("No epochs yet"), w / 2, h / 2);
    ctx.textAlign = "start";
    return;
  }
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const top = yMax ?? Math.max(1e-6, ...points) * 1.05;
  ctx.strokeStyle = "#dadce0"; ctx.fillStyle = "#5f6368"; ctx.font = "11px system-ui";
  for (let i = 0; i <= 4; i++) {
    const y = pad + ((h - 2 * pad) * i) / 4;
    ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(w - 8, y); ctx.stroke();
    ctx.fillText((top * (1 - i / 4)).toFixed(2), 2, y + 4);
  }
  ctx.fillText(gettext("epoch"), w - 40, h - 6);
  const x = (i) => pad + (n <= 1 ? 0 : ((w - pad - 8) * i) / (n - 1));
  const y = (v) => h - pad - ((h - 2 * pad) * v) / top;
  series.forEach((s, k) => {
    ctx.strokeStyle = COLORS[s.key]; ctx.fillStyle = COLORS[s.key]; ctx.lineWidth = 2;
    ctx.beginPath();
    s.values.forEach((v, i) => { if (v == null) return; i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v)); });
    ctx.stroke();
    s.values.forEach((v, i) => { if (v != null) { ctx.beginPath(); ctx.arc(x(i), y(v), 2.5, 0, 7); ctx.fill(); } });
    ctx.fillText(s.key === "train" ? gettext("train") : gettext("val"), w - 60, 14 + 14 * k);
  });
}

function drawConfusion(canvas, matrix, names) {
  const ctx = canvas.getContext("2d");
  const k = matrix.length, w = canvas.width, pad = 70, cell = (w - pad) / k;
  ctx.clearRect(0, 0, w, canvas.height);
  ctx.font = `${Math.max(8, Math.min(12, cell / 3))}px system-ui`;
  matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((v, j) => {
      const t = v / total;  // row-normalised: recall on the diagonal
      ctx.fillStyle = `rgba(26, 115, 232, ${0.08 + 0.92 * t})`;
      ctx.fillRect(pad + j * cell, pad + i * cell, cell - 1, cell - 1);
      if (cell > 18) { ctx.fillStyle = t > 0.5 ? "#fff" : "#1d1f21"; ctx.fillText(String(v), pad + j * cell + 3, pad + i * cell + cell / 2 + 4); }
    });
    ctx.fillStyle = "#1d1f21";
    ctx.fillText(String(names[i]).slice(0, 10), 2, pad + i * cell + cell / 2 + 4);
  });
  names.forEach((name, j) => {
    ctx.save(); ctx.translate(pad + j * cell + cell / 2, pad - 4); ctx.rotate(-Math.PI / 3);
    ctx.fillText(String(name).slice(0, 10), 0, 0); ctx.restore();
  });
}

function render(data) {
  const epochs = data.epochs || [];
  drawLines(document.getElementById("loss-chart"), [
    { key: "train", values: epochs.map((e) => e.train_loss) },
    { key: "val", values: epochs.map((e) => e.val_loss) },
  ]);
  drawLines(document.getElementById("acc-chart"), [
    { key: "train", values: epochs.map((e) => e.train_acc) },
    { key: "val", values: epochs.map((e) => e.val_acc) },
  ], { yMax: 1 });
  const status = document.getElementById("run-status");
  status.textContent = statusText(data.status);
  status.className = `badge status-${data.status}`;
  document.getElementById("run-epochs").textContent = data.epochs_done;
  document.getElementById("run-log").textContent = data.log_tail;
  const confusion = document.getElementById("confusion-chart");
  if (confusion && data.final_metrics) drawConfusion(confusion, data.final_metrics.confusion_matrix, data.final_metrics.classes);
}

const initial = JSON.parse(document.getElementById("run-initial").textContent);
render(initial);
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
let finished = TERMINAL.has(initial.status);
async function poll() {
  if (finished) return;
  try {
    const res = await fetch(root.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (res.ok) {
      const data = await res.json();
      render(data);
      if (TERMINAL.has(data.status)) { finished = true; window.location.reload(); return; }
    }
  } catch (e) { /* network hiccup: try again */ }
  setTimeout(poll, 2000);
}
setTimeout(poll, 2000);

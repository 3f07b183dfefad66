// boxes: drag on the image to draw axis-aligned boxes. The SVG's viewBox is the original image size,
// so pointer positions map to original-image pixels through the SVG's own transform (any display scale).
// Click a box to select it; Delete/Backspace removes the selected (or last) box; Ctrl+Z undoes.

export const imageUrl = (item) => item.image_url;

const SVG = "http://www.w3.org/2000/svg";
const MIN_SIDE = 1; // original pixels

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const round2 = (v) => Math.round(v * 100) / 100;

export function mount(root, items, batch, ctx) {
  const item = items[0];
  const W = item.width;
  const H = item.height;
  let boxes = []; // [[x, y, w, h], ...] in original pixels
  const history = [];
  let selected = -1;
  let drag = null;

  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "boxes-stage", role: "img", "aria-label": "Image: drag to draw a box" });
  svg.dataset.testid = "boxes-stage";
  svg.style.aspectRatio = `${W} / ${H}`; // CSSOM, allowed by the CSP
  const image = svgEl("image", { href: item.image_url, x: 0, y: 0, width: W, height: H, preserveAspectRatio: "none" });
  image.dataset.testid = "boxes-image";
  const layer = svgEl("g");
  const ghost = svgEl("rect", { class: "box ghost hidden" });
  svg.append(image, layer, ghost);

  const names = (batch.categories || []).map((c) => c.name).join(", ");
  const head = document.createElement("h2");
  head.textContent = names ? `Draw a box around each: ${names}` : "Draw a box around each object";
  const summary = document.createElement("p");
  summary.className = "muted";
  summary.setAttribute("aria-live", "polite");
  root.replaceChildren(head, svg, summary);

  function toImage(event) {
    const pt = svg.createSVGPoint();
    pt.x = event.clientX;
    pt.y = event.clientY;
    const p = pt.matrixTransform(svg.getScreenCTM().inverse());
    return { x: Math.min(W, Math.max(0, p.x)), y: Math.min(H, Math.max(0, p.y)) };
  }

  function commit(next) {
    history.push(boxes);
    boxes = next;
    draw();
  }

  function draw() {
    layer.replaceChildren(
      ...boxes.map(([x, y, w, h], i) => {
        const r = svgEl("rect", { x, y, width: w, height: h, class: i === selected ? "box selected" : "box" });
        r.dataset.index = i;
        r.addEventListener("pointerdown", (e) => {
          e.stopPropagation();
          selected = i;
          draw();
        });
        return r;
      }),
    );
    summary.textContent = `${boxes.length} box${boxes.length === 1 ? "" : "es"} drawn.`;
  }

  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    svg.setPointerCapture(event.pointerId);
    drag = toImage(event);
    selected = -1;
    ghost.classList.remove("hidden");
    for (const [k, v] of Object.entries({ x: drag.x, y: drag.y, width: 0, height: 0 })) ghost.setAttribute(k, v);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const p = toImage(event);
    ghost.setAttribute("x", Math.min(p.x, drag.x));
    ghost.setAttribute("y", Math.min(p.y, drag.y));
    ghost.setAttribute("width", Math.abs(p.x - drag.x));
    ghost.setAttribute("height", Math.abs(p.y - drag.y));
  });
  svg.addEventListener("pointerup", (event) => {
    if (!drag) return;
    const p = toImage(event);
    const box = [Math.min(p.x, drag.x), Math.min(p.y, drag.y), Math.abs(p.x - drag.x), Math.abs(p.y - drag.y)].map(round2);
    drag = null;
    ghost.classList.add("hidden");
    if (box[2] >= MIN_SIDE && box[3] >= MIN_SIDE) {
      commit([...boxes, box]);
      selected = boxes.length - 1;
      draw();
    }
  });
  draw();
  root.focus();

  function onKey(event) {
    if ((event.key === "Delete" || event.key === "Backspace") && boxes.length) {
      event.preventDefault();
      const i = selected >= 0 && selected < boxes.length ? selected : boxes.length - 1;
      selected = -1;
      commit(boxes.filter((_, j) => j !== i));
      return true;
    }
    if ((event.ctrlKey || event.metaKey) && (event.key === "z" || event.key === "Z")) {
      event.preventDefault();
      if (history.length) {
        boxes = history.pop();
        selected = -1;
        draw();
      }
      return true;
    }
    return false;
  }

  return {
    onKey,
    answers: () => [{ item_id: item.id, answer: { boxes } }],
    destroy: () => root.replaceChildren(),
  };
}

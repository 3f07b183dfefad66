// A box editor on one image, shared by the label page (volunteers draw) and the review queue (reviewers fix).
// The SVG's viewBox is the original image size, so pointer positions map to original-image pixels through the
// SVG's own transform (any display scale). Mouse: drag on the image draws a box (also inside another box); a
// click selects a box; drag the selected box to move it, or one of its corner handles to resize it. Keys (onKey): 1-9 and 0 (the tenth) pick the category, and
// relabel the selected box (detection projects) · Tab / Shift+Tab select the next / previous box · arrows move
// the selected box by a pixel (Shift: resize it) · Delete/Backspace remove the selected (or last) box ·
// Escape deselects · Ctrl+Z undoes. Boxes are coloured and labelled by category.

import { fmt, gettext, ngettext } from "../annotate/i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const MIN_SIDE = 1; // original pixels
// Ten well-separated colours (Tableau 10), one per category key; more categories reuse them with their name shown.
export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

export function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

const round2 = (v) => Math.round(v * 100) / 100;
export const keyOf = (i) => (i < 9 ? String(i + 1) : i === 9 ? "0" : null);
const indexOfKey = (key) => (key === "0" ? 9 : Number(key) - 1);

// A stored or submitted box as {x, y, w, h, category}: [x, y, w, h], [x, y, w, h, category] or the object form.
export function toBox(b) {
  if (Array.isArray(b)) return { x: b[0], y: b[1], w: b[2], h: b[3], category: b.length > 4 ? b[4] : null };
  return { x: b.x, y: b.y, w: b.w, h: b.h, category: b.category ?? null };
}

export function createBoxEditor({ width: W, height: H, imageUrl, categories = [], detect = false, initial = [], onChange = () => {}, label = gettext("Image: drag to draw a box") }) {
  let boxes = initial.map(toBox);
  const history = [];
  let selected = -1;
  let current = 0; // index into categories of the category new boxes get
  let drag = null;
  const colourOf = (category) => {
    const i = categories.findIndex((c) => c.id === category);
    return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
  };
  const nameOf = (category) => (categories.find((c) => c.id === category) || {}).name || "";

  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "boxes-stage", role: "img", "aria-label": label });
  svg.dataset.testid = "boxes-stage";
  svg.style.aspectRatio = `${W} / ${H}`; // CSSOM, allowed by the CSP
  const image = svgEl("image", { href: imageUrl, x: 0, y: 0, width: W, height: H, preserveAspectRatio: "none" });
  image.dataset.testid = "boxes-image";
  const layer = svgEl("g");
  const ghost = svgEl("rect", { class: "box ghost hidden" });
  svg.append(image, layer, ghost);
  const summary = el("p", { className: "muted" });
  summary.setAttribute("aria-live", "polite");
  summary.dataset.testid = "boxes-summary";
  const palette = el("div", { className: "box-palette" });
  palette.setAttribute("role", "group");
  palette.setAttribute("aria-label", gettext("Category of the next box (and of the selected box)"));
  palette.hidden = !detect;
  const element = el("div", { className: "box-editor" }, [palette, svg, summary]);
  const handleSize = Math.max(W, H) / 50;
  const fontSize = Math.max(W, H) / 28;

  function emit() {
    onChange(value());
  }

  function commit(next) {
    history.push(boxes);
    boxes = next;
    draw();
    emit();
  }

  function pick(index) {
    if (!detect || index < 0 || index >= categories.length) return;
    current = index;
    const category = categories[index].id;
    if (selected >= 0 && boxes[selected].category !== category) {
      commit(boxes.map((b, j) => (j === selected ? { ...b, category } : b)));
    } else {
      draw();
    }
  }

  function drawPalette() {
    palette.replaceChildren(
      ...categories.slice(0, 60).map((c, i) => {
        const b = el("button", { type: "button", className: i === current ? "secondary choice picked" : "secondary choice" });
        b.dataset.categoryId = c.id;
        b.setAttribute("aria-pressed", String(i === current));
        const swatch = svgEl("svg", { width: 12, height: 12, "aria-hidden": "true" });
        swatch.append(svgEl("rect", { width: 12, height: 12, fill: PALETTE[i % PALETTE.length] }));
        b.append(swatch, " ");
        if (keyOf(i)) b.append(el("kbd", { textContent: keyOf(i) }), " ");
        b.append(c.name);
        b.addEventListener("click", () => pick(i));
        return b;
      }),
    );
  }

  function draw() {
    const nodes = [];
    boxes.forEach((b, i) => {
      const colour = detect ? colourOf(b.category) : null;
      const r = svgEl("rect", { x: b.x, y: b.y, width: b.w, height: b.h, class: i === selected ? "box selected" : "box" });
      if (colour) r.style.stroke = colour;
      r.dataset.index = i;
      r.dataset.category = b.category ?? "";
      nodes.push(r);
      if (detect) {
        const t = svgEl("text", { x: b.x + 2, y: Math.max(fontSize, b.y - 2), class: "box-label", "font-size": fontSize });
        t.style.fill = colour;
        t.textContent = nameOf(b.category);
        nodes.push(t);
      }
    });
    if (selected >= 0 && selected < boxes.length) {
      const b = boxes[selected];
      for (const [corner, hx, hy] of [["nw", b.x, b.y], ["ne", b.x + b.w, b.y], ["sw", b.x, b.y + b.h], ["se", b.x + b.w, b.y + b.h]]) {
        const h = svgEl("rect", { x: hx - handleSize / 2, y: hy - handleSize / 2, width: handleSize, height: handleSize, class: "box-handle" });
        h.dataset.handle = corner;
        nodes.push(h);
      }
    }
    layer.replaceChildren(...nodes);
    const n = boxes.length;
    const parts = [fmt(ngettext("%(n)s box.", "%(n)s boxes.", n), { n })];
    if (selected >= 0 && selected < n) {
      const values = { i: selected + 1, category: nameOf(boxes[selected].category) };
      parts.push(fmt(detect ? gettext("Box %(i)s selected (%(category)s).") : gettext("Box %(i)s selected."), values));
    }
    if (detect && categories.length) parts.push(fmt(gettext("Next box: %(category)s."), { category: categories[current].name }));
    summary.textContent = parts.join(" ");
    if (detect) drawPalette();
  }

  function toImage(event) {
    const pt = svg.createSVGPoint();
    pt.x = event.clientX;
    pt.y = event.clientY;
    const p = pt.matrixTransform(svg.getScreenCTM().inverse());
    return { x: Math.min(W, Math.max(0, p.x)), y: Math.min(H, Math.max(0, p.y)) };
  }

  const clampBox = (b) => {
    const w = Math.min(Math.max(b.w, MIN_SIDE), W);
    const h = Math.min(Math.max(b.h, MIN_SIDE), H);
    return { ...b, x: round2(Math.min(Math.max(b.x, 0), W - w)), y: round2(Math.min(Math.max(b.y, 0), H - h)), w: round2(w), h: round2(h) };
  };

  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    svg.setPointerCapture(event.pointerId);
    const p = toImage(event);
    const handle = event.target.dataset && event.target.dataset.handle;
    const index = event.target.dataset && event.target.dataset.index !== undefined ? Number(event.target.dataset.index) : -1;
    if (handle && selected >= 0) {
      const b = boxes[selected];
      const fixed = { x: handle.includes("w") ? b.x + b.w : b.x, y: handle.includes("n") ? b.y + b.h : b.y };
      drag = { mode: "resize", fixed, before: boxes };
    } else if (index >= 0 && index === selected) {
      drag = { mode: "move", start: p, origin: boxes[index], before: boxes };
    } else {
      // On another box this is a click that selects it, or a drag that draws a box inside it (nested objects).
      selected = -1;
      drag = { mode: "draw", start: p, clicked: index };
      ghost.classList.remove("hidden");
      for (const [k, v] of Object.entries({ x: p.x, y: p.y, width: 0, height: 0 })) ghost.setAttribute(k, v);
    }
  });

  function dragged(p) {
    if (drag.mode === "move") {
      const o = drag.origin;
      return clampBox({ ...o, x: o.x + p.x - drag.start.x, y: o.y + p.y - drag.start.y });
    }
    const f = drag.fixed;
    const b = boxes[selected];
    return clampBox({ ...b, x: Math.min(p.x, f.x), y: Math.min(p.y, f.y), w: Math.abs(p.x - f.x), h: Math.abs(p.y - f.y) });
  }

  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const p = toImage(event);
    if (drag.mode === "draw") {
      ghost.setAttribute("x", Math.min(p.x, drag.start.x));
      ghost.setAttribute("y", Math.min(p.y, drag.start.y));
      ghost.setAttribute("width", Math.abs(p.x - drag.start.x));
      ghost.setAttribute("height", Math.abs(p.y - drag.start.y));
      return;
    }
    boxes = boxes.map((b, j) => (j === selected ? dragged(p) : b)); // live; one history step on release
    draw();
  });

  svg.addEventListener("pointerup", (event) => {
    if (!drag) return;
    const p = toImage(event);
    const d = drag;
    drag = null;
    if (d.mode === "draw") {
      ghost.classList.add("hidden");
      const s = d.start;
      const box = { x: round2(Math.min(p.x, s.x)), y: round2(Math.min(p.y, s.y)), w: round2(Math.abs(p.x - s.x)), h: round2(Math.abs(p.y - s.y)) };
      box.category = detect && categories.length ? categories[current].id : null;
      if (box.w >= MIN_SIDE && box.h >= MIN_SIDE) {
        commit([...boxes, box]);
        selected = boxes.length - 1;
      } else if (d.clicked >= 0) {
        selected = d.clicked;
        const cat = categories.findIndex((c) => c.id === boxes[selected].category);
        if (cat >= 0) current = cat;
      }
      draw();
      return;
    }
    const moved = boxes;
    boxes = d.before;
    if (moved.some((b, j) => b !== d.before[j])) commit(moved);
    else draw();
  });

  function nudge(dx, dy, resize) {
    const b = boxes[selected];
    const next = resize ? { ...b, w: b.w + dx, h: b.h + dy } : { ...b, x: b.x + dx, y: b.y + dy };
    commit(boxes.map((o, j) => (j === selected ? clampBox(next) : o)));
  }

  function onKey(event) {
    const key = event.key;
    if (event.ctrlKey || event.metaKey) {
      if (key !== "z" && key !== "Z") return false;
      event.preventDefault();
      if (history.length) {
        boxes = history.pop();
        selected = -1;
        draw();
        emit();
      }
      return true;
    }
    if (event.altKey) return false;
    if (detect && /^[0-9]$/.test(key)) {
      event.preventDefault();
      pick(indexOfKey(key));
      return true;
    }
    if (key === "Tab" && boxes.length) {
      event.preventDefault();
      const n = boxes.length;
      selected = selected < 0 ? (event.shiftKey ? n - 1 : 0) : (selected + (event.shiftKey ? n - 1 : 1)) % n;
      const cat = categories.findIndex((c) => c.id === boxes[selected].category);
      if (cat >= 0) current = cat;
      draw();
      return true;
    }
    if ((key === "Delete" || key === "Backspace") && boxes.length) {
      event.preventDefault();
      const i = selected >= 0 && selected < boxes.length ? selected : boxes.length - 1;
      selected = -1;
      commit(boxes.filter((_, j) => j !== i));
      return true;
    }
    if (key === "Escape" && selected >= 0) {
      selected = -1;
      draw();
      return true;
    }
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (arrows[key] && selected >= 0) {
      event.preventDefault();
      nudge(...arrows[key], event.shiftKey);
      return true;
    }
    return false;
  }

  // The answer: detection boxes as {x, y, w, h, category}, single-class boxes as [x, y, w, h].
  function value() {
    return boxes.map((b) => (detect ? { x: b.x, y: b.y, w: b.w, h: b.h, category: b.category } : [b.x, b.y, b.w, b.h]));
  }

  draw();
  return { element, svg, onKey, value };
}

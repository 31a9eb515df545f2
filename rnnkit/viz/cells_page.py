"""cells.html: a static page (no server, no network) to read a text through one cell's eyes.

Every character of the text is coloured by the chosen cell's activation after reading it (blue
positive, red negative, scaled by the cell's largest magnitude over the text), in the manner of
Karpathy, Johnson & Fei-Fei (2015). Selectors choose the layer, the gate (c, h ...) and the
cell; the ranking lists the cells that track features of the text best (click one to show it);
the chosen cell's correlation with every feature is shown beside it. The page opens on the top
cell, or on ``cells.html#layer=1&gate=c&cell=17``. Activations travel as base64 int8 inside the
page, so a page of 2,000 characters and 2 x 2 x 384 cells weighs about 4 MB.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from rnnkit.train.checkpoint import atomic_write_bytes

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { font-family: sans-serif; margin: 16px; color: #222; }
#controls { margin-bottom: 8px; } #controls label { margin-right: 14px; }
#text { font-family: monospace; font-size: 13px; line-height: 1.35; white-space: pre-wrap;
        border: 1px solid #ccc; padding: 8px; max-width: 110ch; }
#side { display: flex; gap: 24px; align-items: flex-start; }
table { border-collapse: collapse; font-size: 12px; } td, th { padding: 2px 8px; }
#ranking tr.row { cursor: pointer; } #ranking tr.row:hover { background: #eef; }
#ranking tr.chosen { background: #dde; } .legend span { padding: 0 6px; }
</style></head><body>
<h2>__TITLE__</h2>
<div id="controls">
<label>layer <select id="layer"></select></label>
<label>gate <select id="gate"></select></label>
<label>cell <input id="cell" type="number" min="0" value="0" style="width:6em"></label>
<span id="about"></span>
<span class="legend"><span style="background:rgb(230,90,90)">negative</span><span
style="background:rgb(90,120,230)">positive</span></span>
</div>
<div id="side"><div id="text"></div>
<div><h3>Cells that track the text</h3><table id="ranking"><tr><th>#</th><th>layer</th>
<th>gate</th><th>cell</th><th>feature</th><th>r</th></tr></table>
<h3>This cell</h3><table id="features"></table></div></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const T = data.text.length, K = data.cells;
const decoded = {};
function values(key) {  // Int8Array (T*K), row-major by step
  if (!decoded[key]) {
    const raw = atob(data.acts[key]), a = new Int8Array(raw.length);
    for (let i = 0; i < raw.length; i++) a[i] = (raw.charCodeAt(i) << 24) >> 24;
    decoded[key] = a;
  }
  return decoded[key];
}
const box = document.getElementById("text"), spans = [];
for (const ch of data.text) {
  const s = document.createElement("span");
  s.textContent = ch;
  box.appendChild(s); spans.push(s);
}
const layerSel = document.getElementById("layer"), gateSel = document.getElementById("gate");
const cellBox = document.getElementById("cell");
for (const l of data.layers) layerSel.add(new Option(String(l), String(l)));
for (const g of data.gates) gateSel.add(new Option(g, g));
cellBox.max = String(K - 1);
function colour(v) {  // v in [-1, 1]
  const a = Math.min(1, Math.abs(v));
  return v >= 0 ? `rgba(90,120,230,${a})` : `rgba(230,90,90,${a})`;
}
function show() {
  const layer = layerSel.value, gate = gateSel.value;
  const cell = Math.max(0, Math.min(K - 1, parseInt(cellBox.value || "0", 10)));
  const key = layer + "/" + gate, a = values(key);
  for (let t = 0; t < T; t++) {
    const v = a[t * K + cell] / 127;
    spans[t].style.background = colour(v);
    spans[t].title = `${gate}[${cell}] = ${(v * data.scale[key][cell]).toFixed(3)}`;
  }
  document.getElementById("about").textContent =
    `scale ±${data.scale[key][cell].toFixed(3)}`;
  const rows = data.r[key][cell];
  const table = document.getElementById("features");
  table.innerHTML = "<tr><th>feature</th><th>r</th></tr>";
  data.features.forEach((f, m) => {
    const tr = table.insertRow(); tr.insertCell().textContent = f;
    tr.insertCell().textContent = rows[m].toFixed(3);
  });
  for (const tr of document.querySelectorAll("#ranking tr.row"))
    tr.classList.toggle("chosen", tr.dataset.key === `${layer}/${gate}/${cell}`);
  history.replaceState(null, "", `#layer=${layer}&gate=${gate}&cell=${cell}`);
  document.body.dataset.shown = `${layer}/${gate}/${cell}`;
}
function choose(layer, gate, cell) {
  layerSel.value = String(layer); gateSel.value = gate; cellBox.value = String(cell); show();
}
const ranking = document.getElementById("ranking");
data.ranking.forEach((c, i) => {
  const tr = ranking.insertRow(); tr.className = "row";
  tr.dataset.key = `${c.layer}/${c.gate}/${c.cell}`;
  for (const v of [i + 1, c.layer, c.gate, c.cell, c.feature, c.r.toFixed(3)])
    tr.insertCell().textContent = String(v);
  tr.onclick = () => choose(c.layer, c.gate, c.cell);
});
for (const el of [layerSel, gateSel, cellBox]) el.onchange = show;
const hash = Object.fromEntries(location.hash.slice(1).split("&").filter(Boolean)
  .map(kv => kv.split("=")));
const first = data.ranking[0] || {layer: data.layers[0], gate: data.gates[0], cell: 0};
choose(hash.layer ?? first.layer, hash.gate ?? first.gate, hash.cell ?? first.cell);
</script></body></html>
"""


def encode(values: np.ndarray) -> tuple[str, list[float]]:
    """(base64 of int8 (T*K), per-cell scale (K,)): ``values`` (T, K) divided by each cell's
    largest magnitude, times 127, rounded."""
    values = np.asarray(values, dtype=np.float64)  # (T, K)
    scale = np.abs(values).max(0)  # (K,)
    scale[scale == 0] = 1.0
    q = np.rint(values / scale * 127).astype(np.int8)  # (T, K)
    return base64.b64encode(q.tobytes()).decode("ascii"), [round(float(s), 5) for s in scale]


def write_cells_page(
    path: str | Path,
    text: str,
    activations: dict[tuple[int, str], np.ndarray],
    correlations: dict[tuple[int, str], np.ndarray],
    features: list[str],
    ranking: list[dict],
    title: str = "cells",
) -> None:
    """Write the page to ``path``. ``activations``: {(layer, gate): (T, K)} over ``text``'s
    characters; ``correlations``: {(layer, gate): (K, M)} Pearson r with ``features`` (M);
    ``ranking``: dicts with layer, gate, cell, feature and r, strongest first."""
    keys = list(activations)
    shapes = {np.asarray(v).shape for v in activations.values()}
    if len(shapes) != 1 or next(iter(shapes))[0] != len(text):
        raise ValueError(
            f"write_cells_page: expected every activation of shape ({len(text)}, K), got {shapes}"
        )
    data: dict = {"text": text, "cells": next(iter(shapes))[1], "features": list(features)}
    data["layers"] = sorted({layer for layer, _ in keys})
    data["gates"] = list(dict.fromkeys(gate for _, gate in keys))
    data["acts"], data["scale"], data["r"] = {}, {}, {}
    for (layer, gate), values in activations.items():
        key = f"{layer}/{gate}"
        data["acts"][key], data["scale"][key] = encode(values)
        r = np.round(np.asarray(correlations[(layer, gate)], dtype=np.float64), 3)
        data["r"][key] = r.tolist()
    data["ranking"] = ranking
    payload = json.dumps(data, ensure_ascii=True).replace("</", "<\\/")  # safe inside <script>
    page = PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    atomic_write_bytes(path, page.encode("utf-8"))

/** `bench/throughput.svg`, written by hand: datagrams/s against registered conns (log scale), mux vs bare. */

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: { conns: number; perSecond: number }[];
}

const W = 720;
const H = 400;
const M = { left: 80, right: 24, top: 48, bottom: 96 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A "nice" upper bound for the y axis and its tick step. */
function niceScale(max: number): { top: number; step: number } {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  return { top: Math.ceil(max / step) * step, step };
}

function short(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function renderChart(title: string, subtitle: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.perSecond));
  const xs = [...new Set(all.map((p) => p.conns))].sort((a, b) => a - b);
  const xMin = Math.log10(Math.min(...xs));
  const xMax = Math.log10(Math.max(...xs));
  const { top, step } = niceScale(Math.max(...all.map((p) => p.perSecond)));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (conns: number) =>
    M.left + (xMax === xMin ? pw / 2 : ((Math.log10(conns) - xMin) / (xMax - xMin)) * pw);
  const y = (v: number) => M.top + ph - (v / top) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
    `<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`,
  );
  for (let v = 0; v <= top + step / 2; v += step) {
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
      `<text x="${M.left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#333">${short(v)}</text>`,
    );
  }
  for (const c of xs) {
    out.push(
      `<line x1="${x(c)}" x2="${x(c)}" y1="${M.top}" y2="${M.top + ph}" stroke="#f0f0f0"/>`,
      `<text x="${x(c)}" y="${M.top + ph + 18}" text-anchor="middle" fill="#333">${c.toLocaleString("en-US")}</text>`,
    );
  }
  out.push(
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#333"/>`,
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" stroke="#333"/>`,
    `<text x="${M.left + pw / 2}" y="${M.top + ph + 40}" text-anchor="middle">registered conns (log scale)</text>`,
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">datagrams / s</text>`,
  );
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.perSecond));
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : "";
    const d = pts.map((p) => `${x(p.conns).toFixed(1)},${y(p.perSecond).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const p of pts) {
      out.push(
        `<circle cx="${x(p.conns).toFixed(1)}" cy="${y(p.perSecond).toFixed(1)}" r="3" fill="${s.color}"/>`,
      );
    }
    const lx = M.left + (i % 2) * (pw / 2);
    const ly = H - 30 + Math.floor(i / 2) * 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 30}" y="${ly}">${esc(s.label)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

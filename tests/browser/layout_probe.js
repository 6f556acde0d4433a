const report = {svgs: 0, tables: document.querySelectorAll('table').length, overlaps: [], outside: []};
const rects = el => el.getBoundingClientRect();
const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
for (const svg of document.querySelectorAll('svg')) {
  report.svgs += 1;
  const texts = [...svg.querySelectorAll('text')];
  for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++)
    if (hit(rects(texts[i]), rects(texts[j]))) report.overlaps.push(texts[i].textContent + ' / ' + texts[j].textContent);
  const frame = rects(svg.querySelector('rect'));
  for (const c of svg.querySelectorAll('circle')) {
    if (!c.querySelector('title')) continue;
    const r = rects(c);
    if (r.left < frame.left + 2 || r.right > frame.right - 2 || r.top < frame.top + 2 || r.bottom > frame.bottom - 2)
      report.outside.push(c.querySelector('title').textContent);
  }
  const box = rects(svg);
  for (const t of texts) { const r = rects(t); if (r.left < box.left || r.right > box.right) report.outside.push('text: ' + t.textContent); }
}
document.body.setAttribute('data-report', JSON.stringify(report));

"""The report stylesheet: one column of readable width, tables and figures that never overflow it.

- Wide screens (>= 1000 px): a table and its figure side by side (``.pair``); the page is at most
  1180 px wide, so at 1280 px nothing scrolls sideways.
- Narrow screens (e.g. 800 px): pairs stack, table text shrinks a little; a cell wraps only at a space
  and never inside an interval (the table code joins ``[low, high]`` with non-breaking spaces).
- Print (A4): margins 14 mm, pairs stacked, tables and figures never split across pages, headings
  kept with what follows, tooltips' counts already in the notes.
"""

CSS = """
:root{--ink:#1d1d1f;--muted:#5f6368;--rule:#d9dce1;--band:#f5f6f8;--accent:#0b5cad;--flag:#fff4e5;--flagrule:#e6a23c}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;color:var(--ink);background:#fff;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:1.5rem 2rem 3rem}
h1{font-size:1.7rem;line-height:1.25;margin:.5rem 0 .25rem}
h2{font-size:1.3rem;margin:2.2rem 0 .6rem;padding-top:.6rem;border-top:1px solid var(--rule)}
p{margin:.5rem 0 .8rem;max-width:75ch}
.subtitle{color:var(--muted);margin-top:0}
nav ol{display:flex;flex-wrap:wrap;gap:.2rem 1.2rem;padding:0;margin:.6rem 0 0;list-style:none;font-size:.92rem}
nav a{color:var(--accent);text-decoration:none}
p.flag{background:var(--flag);border-left:4px solid var(--flagrule);padding:.5rem .8rem;max-width:none}
.pair{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1.5rem;align-items:start}
.pair>div{min-width:0}
.table{margin:.8rem 0 1.2rem;max-width:100%}
table{border-collapse:collapse;font-size:.9rem;font-variant-numeric:tabular-nums;max-width:100%}
caption{caption-side:top;text-align:left;color:var(--muted);font-size:.88rem;padding:0 0 .35rem}
th,td{padding:.3rem .55rem;border-bottom:1px solid var(--rule);vertical-align:top}
td.left:first-child{white-space:nowrap}
th{font-weight:600;border-bottom:2px solid var(--ink);background:var(--band);line-height:1.25}
td.right,th.right{text-align:right}
td.left,th.left{text-align:left}
td.center,th.center{text-align:center}
td[title],th[title]{text-decoration:underline dotted #9aa0a6;text-underline-offset:3px;cursor:help}
tbody tr:hover{background:#fafbfc}
ul.notes{list-style:none;padding:0;margin:.35rem 0 0;color:var(--muted);font-size:.82rem;max-width:90ch}
figure{margin:.8rem 0 1.2rem;max-width:100%}
figure img{display:block;width:100%;max-width:var(--fig-width,100%);height:auto}
figcaption{color:var(--muted);font-size:.88rem;margin-top:.4rem;max-width:75ch}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2rem 1rem;font-size:.92rem}
dt{font-weight:600}
dd{margin:0}
@media (max-width:999px){
  .pair{display:block}
  main{padding:1rem 1rem 2rem}
  table{font-size:.84rem}
  th,td{padding:.25rem .4rem}
}
@media (max-width:600px){dl{grid-template-columns:minmax(0,1fr)}}
@page{size:A4;margin:14mm}
@media print{
  body{font-size:10pt}
  main{max-width:none;padding:0}
  nav{display:none}
  .pair{display:block}
  h2{break-after:avoid;page-break-after:avoid}
  .table,table,figure,tr,p.flag{break-inside:avoid;page-break-inside:avoid}
  table{font-size:8.5pt}
  figure img{max-width:100%}
  tbody tr:hover{background:none}
  td[title],th[title]{text-decoration:none}
}
"""

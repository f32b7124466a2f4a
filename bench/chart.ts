/**
 * The benchmark chart: one panel per workload, one bar per system on a log scale, geventjs
 * highlighted. `npm run bench` writes it next to its tables (bench/chart.svg, from
 * bench/results.json); `node dist/bench/chart.js [results.json] [chart.svg]` redraws it from a
 * saved run. Drawn with Vega-Lite and rendered to SVG by Vega, headless.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One bar: a system's median on one workload, in that workload's unit. */
export interface ChartPoint {
  workload: string;
  title: string;
  system: string;
  median: number;
  unit: string;
}

/** The Vega-Lite spec: small multiples, each panel with its own log y axis. */
export function chartSpec(points: ChartPoint[]): object {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'geventjs against its peers (median of 5 runs; B7 is throughput, higher is better)', fontSize: 14 },
    data: { values: points.map((p) => ({ ...p, panel: `${p.workload} (${p.unit})`, geventjs: p.system === 'geventjs' })) },
    facet: { field: 'panel', type: 'nominal', title: null, sort: { field: 'workload' } },
    columns: 3,
    resolve: { scale: { y: 'independent', x: 'independent' } },
    spec: {
      width: 220,
      height: 160,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'system', type: 'nominal', sort: null, axis: { labelAngle: -35, title: null } },
        y: { field: 'median', type: 'quantitative', stack: null, scale: { type: 'log' }, axis: { title: null, format: '~s' } },
        color: {
          field: 'geventjs',
          type: 'nominal',
          scale: { domain: [true, false], range: ['#d62728', '#9aa5b1'] },
          legend: null,
        },
      },
    },
  };
}

/**
 * Renders the chart to an SVG string.
 *
 * @example
 * writeFileSync('chart.svg', await renderChart([{ workload: 'B1', title: '', system: 'geventjs', median: 900, unit: 'ns' }]));
 */
export async function renderChart(points: ChartPoint[]): Promise<string> {
  // Both packages are ES modules: a real dynamic import from this CommonJS file.
  const importEsm = new Function('m', 'return import(m)') as (m: string) => Promise<any>;
  const vl = await importEsm('vega-lite');
  const vega = await importEsm('vega');
  const compiled = vl.compile(chartSpec(points)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  await view.runAsync();
  return view.toSVG();
}

async function main(): Promise<void> {
  const input = process.argv[2] ?? path.join(__dirname, '../../bench/results.json');
  const output = process.argv[3] ?? path.join(__dirname, '../../bench/chart.svg');
  const points = JSON.parse(readFileSync(input, 'utf8')) as ChartPoint[];
  writeFileSync(output, await renderChart(points));
  console.log(`chart: ${output}`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}

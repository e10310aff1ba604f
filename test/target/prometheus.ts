// A strict parser of the Prometheus text exposition format (0.0.4), for the metrics tests.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict parser of the Prometheus text format 0.0.4: HELP and TYPE before samples, label syntax, values. */
export function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleRe = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
  const labelRe = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/;
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const [n, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const where = `line ${n + 1}: ${line}`;
    if (line.startsWith('# HELP ')) {
      const name = line.slice(7).split(' ')[0]!;
      if (!new RegExp(`^${NAME}$`).test(name)) throw new Error(`bad HELP name, ${where}`);
      helps.add(name);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type!)) throw new Error(`bad TYPE, ${where}`);
      if (types.has(name!)) throw new Error(`TYPE given twice, ${where}`);
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = sampleRe.exec(line);
    if (m === null) throw new Error(`not a sample, ${where}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest.length > 0) {
      const l = labelRe.exec(rest);
      if (l === null) throw new Error(`bad labels, ${where}`);
      if (l[1]! in labels) throw new Error(`label given twice, ${where}`);
      labels[l[1]!] = l[2]!;
      rest = rest.slice(l[0].length);
    }
    // Values as Prometheus reads them (Go's strconv.ParseFloat): special values in any case, so
    // prom-client's "Nan" for an empty event-loop histogram is valid.
    const v = m[3]!;
    const special = /^([-+]?)(inf|infinity|nan)$/i.exec(v);
    if (special === null && !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) throw new Error(`bad value, ${where}`);
    const value = special === null ? Number(v) : special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
    const family = [...types.keys()].find((f) => m[1] === f || (types.get(f) === 'histogram' && [`${f}_bucket`, `${f}_sum`, `${f}_count`].includes(m[1]!)));
    if (family === undefined) throw new Error(`sample without a TYPE, ${where}`);
    if (!helps.has(family)) throw new Error(`sample without a HELP, ${where}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

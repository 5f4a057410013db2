// A tiny case runner whose output e2e/run counts: one "PASS name" or
// "FAIL name: reason" line per case, nothing else on stdout.

/**
 * Runs cases in order and exits 1 when any failed.
 * @param {{name: string, fn: () => Promise<void>, timeoutMs?: number}[]} cases
 */
export async function runCases(cases) {
  let failed = 0;
  for (const c of cases) {
    const limit = c.timeoutMs ?? 30_000;
    let timer;
    try {
      await Promise.race([
        c.fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${limit} ms`)), limit);
        }),
      ]);
      console.log(`PASS ${c.name}`);
    } catch (err) {
      failed++;
      const reason = String(err?.message ?? err).replace(/\s+/g, " ").trim();
      console.log(`FAIL ${c.name}: ${reason}`);
    } finally {
      clearTimeout(timer);
    }
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

/** Throws with msg unless cond holds. */
export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Throws unless got deep-equals want (JSON comparison), naming what. */
export function checkEqual(what, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

/** Parses --name value pairs from argv. */
export function flags(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const eq = a.indexOf("=");
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else out[a.slice(2)] = argv[++i];
  }
  return out;
}

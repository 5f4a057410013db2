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

/**
 * Runs a flow of dependent steps eagerly, in the background, so that slow
 * flows (waiting for live updates) overlap with other cases. Returns one
 * function per step name for runCases: each waits for its step's outcome.
 * A step after a failed one fails as skipped.
 *
 *   const s = steps(["list", "live"], async (step) => { await step("list", ...); await step("live", ...); });
 *   cases.push({ name: "list", fn: s.list }, { name: "live", fn: s.live });
 *
 * @param {string[]} names
 * @param {(step: (name: string, fn: () => Promise<void>) => Promise<void>) => Promise<void>} flow
 */
export function steps(names, flow) {
  const outcome = {};
  const settle = {};
  for (const n of names) {
    outcome[n] = new Promise((resolve, reject) => (settle[n] = { resolve, reject }));
    outcome[n].catch(() => {}); // reported when its case awaits it
  }
  let broken = null;
  const step = async (name, fn) => {
    if (broken) {
      settle[name].reject(new Error(`skipped: step "${broken}" failed`));
      return;
    }
    const t0 = Date.now();
    try {
      await fn();
      // Timing goes to stderr, which e2e/run keeps in the suite's log.
      console.error(`step ${name}: ${Date.now() - t0} ms`);
      settle[name].resolve();
    } catch (err) {
      broken = name;
      settle[name].reject(err);
    }
  };
  flow(step)
    .catch((err) => (broken ??= "flow", err))
    .then((err) => {
      for (const n of names) settle[n].reject(err instanceof Error ? err : new Error(`skipped: step "${broken ?? "?"}" failed or never ran`));
    });
  return Object.fromEntries(names.map((n) => [n, () => outcome[n]]));
}

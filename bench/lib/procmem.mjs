// Memory of a running process tree, sampled from /proc (Linux only).
//
// `sampleMemory(pid, { helpers })` polls every `intervalMs` until stop():
//   - the process's own VmRSS and VmHWM (/proc/PID/status; VmHWM is the
//     kernel's high-water mark, so a peak between two samples is still seen
//     as long as one sample lands after it, i.e. before the process exits);
//   - the summed VmRSS of its descendants whose comm is in `helpers` (the
//     data-path helpers: cordon-relay, socat), peak over the samples.
import { readdirSync, readFileSync } from 'node:fs';

/** { rssKiB, hwmKiB } of one process, or null once it is gone. */
export function statusMem(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kib = (key) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

export function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

export function cmdlineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** Direct children of pid (all threads' children files). */
export function childrenOf(pid) {
  const out = [];
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      // thread gone
    }
  }
  return out;
}

/** Every descendant of pid, breadth first, bounded (a tree is never this big here). */
export function descendantsOf(pid, limit = 1000) {
  const out = [];
  const queue = [pid];
  while (queue.length && out.length < limit) {
    for (const c of childrenOf(queue.shift())) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/**
 * The first process in pid's tree (pid itself included) whose argv matches
 * `pred`: world.spawn's child is `unshare`, which execs sh, which execs the
 * command, so usually it is pid itself; a wrapper that forks instead is
 * walked through.
 */
export function findInTree(pid, pred) {
  for (const p of [pid, ...descendantsOf(pid)]) {
    const argv = cmdlineOf(p);
    if (argv && pred(argv)) return p;
  }
  return null;
}

/**
 * Samples pid's VmRSS/VmHWM every `intervalMs` (one small /proc read: VmHWM is
 * the kernel's high-water mark, so ten reads a second still see every peak
 * that happened before the last sample), and its helpers' summed RSS: their
 * PIDs come from a walk of pid's descendants (~1 ms of CPU), made on every
 * tick until a helper is found and then every `helperIntervalMs`; in between
 * only the known helpers' status files are read. On 2 cores the sampler's CPU
 * comes out of the throughput being measured, so it is kept this sparse.
 */
export function sampleMemory(pid, { intervalMs = 100, helperIntervalMs = 500, helpers = [] } = {}) {
  const peak = { rssKiB: 0, hwmKiB: 0, helpersKiB: 0, samples: 0 };
  const helperSet = new Set(helpers);
  let known = [];
  let walkedAt = -Infinity;
  const tick = () => {
    const m = statusMem(pid);
    if (!m) return;
    peak.samples++;
    peak.rssKiB = Math.max(peak.rssKiB, m.rssKiB);
    peak.hwmKiB = Math.max(peak.hwmKiB, m.hwmKiB);
    if (helperSet.size === 0) return;
    if (known.length === 0 || Date.now() - walkedAt >= helperIntervalMs) {
      walkedAt = Date.now();
      known = descendantsOf(pid).filter((d) => helperSet.has(commOf(d)));
    }
    let sum = 0;
    for (const d of known) sum += statusMem(d)?.rssKiB ?? 0;
    peak.helpersKiB = Math.max(peak.helpersKiB, sum);
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    peak,
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

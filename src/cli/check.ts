/**
 * `cordon check read|write|delete PATH` and `cordon check connect HOST[:PORT]`:
 * the answer of the compiled policy (platform/linux/check.ts), printed; nothing
 * runs. Exit status 0 when allowed, 1 when denied (125 stays cordon's own
 * failure, as everywhere).
 */
import type { Compiled } from '../compile.js';
import { expandPath, resolvePath } from '../policy/paths.js';
import { checkConnect, checkPath, type CheckAnswer, type CheckOperation } from '../platform/linux/check.js';
import { printableLines } from '../events/describe.js';

export const EXIT_DENIED = 1;

export async function runCheck(c: Compiled, query: { readonly operation: CheckOperation; readonly target: string }, json: boolean): Promise<number> {
  let answer: CheckAnswer;
  if (query.operation === 'connect') {
    const { resolveAll } = await import('../network/resolve.js');
    const { hostAddresses } = await import('../network/host-addresses.js');
    answer = await checkConnect(query.target, c.policy.network, { resolve: resolveAll, hostAddresses });
  } else {
    const abs = expandPath(query.target, { cwd: c.policy.cwd, home: c.policy.home });
    answer = checkPath(query.operation, query.target, resolvePath(abs), c.policy, c.plan);
  }
  if (json) process.stdout.write(`${JSON.stringify({ version: 1, ...answer })}\n`);
  else {
    const shown = answer.judged === query.target ? query.target : `${query.target} (${answer.judged})`;
    process.stdout.write(printableLines(`${answer.allowed ? 'allowed' : 'denied'}: ${query.operation} ${shown}: ${answer.because}`) + '\n');
  }
  return answer.allowed ? 0 : EXIT_DENIED;
}

/**
 * Child process for the crash test: starts a Runtime on the state dir given as argv[2] with the
 * runtime argv[3], runs a long step, prints STARTED once the step's first line arrives, and waits
 * to be killed by the test (SIGKILL: nothing runs; SIGTERM: the runtime's handler cleans up). argv[4]: how long its two sleeps sleep. Not used by the product.
 */
import { Runtime } from './index.js';
import { busyboxLayout, layoutLayers } from './testing.js';

const [root, runtime, secs] = process.argv.slice(2) as [string, 'runc' | 'crun', string];
const rt = await Runtime.create({ root, runtime });
const step = rt.runStep(
  {
    lowers: layoutLayers(busyboxLayout()),
    args: ['/bin/sh', '-c', `echo up; sleep ${secs} & sleep ${secs}`],
    env: [],
    cwd: '/work/dir',
    network: 'none',
    mounts: [
      { type: 'tmpfs', target: '/scratch' },
      { type: 'secret', target: '/run/secrets/x', data: Buffer.from('s') },
    ],
    onOutput: () => process.stdout.write('STARTED\n'),
  },
  async () => undefined,
);
// On SIGTERM the runtime's handler tears the step down and re-raises the signal; keep the event
// loop alive until then, as a CLI would while it reports the failure.
step.catch((e: Error) => {
  process.stdout.write(`STEP FAILED ${e.name}\n`);
  setTimeout(() => process.exit(3), 20_000);
});

/**
 * The constants cordon's TypeScript shares with its C programs (exit codes,
 * descriptors, the helper's commands and options, the relay's preambles,
 * header names, Landlock's access bits). Their one source is
 * native/protocol.json: this module imports it, and scripts/build-native.mjs
 * generates native/build/cordon-protocol.h from it, so the two sides cannot
 * disagree (test/unit/protocol.test.ts reads the generated header back; the
 * header asserts Landlock's bits against the kernel's own at build time).
 * Nothing here is trusted input: it is cordon's own file.
 */
import protocol from '../native/protocol.json' with { type: 'json' };

export const PROTOCOL = protocol;

/** cordon's own failure (bad usage, a wall that cannot be put up): never a command's status. */
export const EXIT_FAILURE = protocol.exit.failure;
/** The helper's options (everything after `cordon-helper run`): see native/cordon-helper.c, cmd_run. */
export const HELPER_OPTION = protocol.helperOption;
export const HELPER_COMMAND = protocol.helperCommand;
/** Landlock's filesystem access rights (include/uapi/linux/landlock.h), by name. */
export const LANDLOCK_ACCESS_FS = protocol.landlockAccessFs;

/**
 * The differential conformance suite's case table: every folder of testdata/differential/ is one
 * row. `oracle: 'buildkit'` rows have an expected.json recorded from dockerd 20.10's BuildKit by
 * scripts/record-differential.ts; `'manual'` rows use syntax that frontend lacks and have
 * hand-written expectations (from the Dockerfile reference) in expected.json.
 */
export interface DiffCase {
  /** folder under testdata/differential/ */
  dir: string;
  oracle: 'buildkit' | 'manual';
  /** --build-arg values */
  args?: Record<string, string>;
  /** --target */
  target?: string;
  /** SOURCE_DATE_EPOCH for the build; mtimes are compared only when set */
  epoch?: number;
  /** what the case checks */
  what: string;
}

/** The base image every case names (pushed from testdata/busybox/build.sh's layout for BuildKit, loaded into the store for tsbuild). */
export const BASE_REF = '127.0.0.1:5000/diffsuite/busybox:latest';

export const CASES: readonly DiffCase[] = [
  { dir: "scratch-copy", oracle: 'buildkit', what: "COPY files and a dir's contents into scratch" },
  { dir: "env-order", oracle: 'buildkit', what: "Env order, override keeps position, legacy form, quoting, PATH extension" },
  { dir: "env-expansion", oracle: 'buildkit', what: "variable expansion forms in ENV/WORKDIR/LABEL" },
  { dir: "cmd-entrypoint-exec", oracle: 'buildkit', what: "exec forms" },
  { dir: "cmd-entrypoint-shell", oracle: 'buildkit', what: "shell forms wrap in /bin/sh -c" },
  { dir: "entrypoint-resets-cmd", oracle: 'buildkit', what: "ENTRYPOINT clears the base image's CMD" },
  { dir: "cmd-then-entrypoint-stage", oracle: 'buildkit', what: "ENTRYPOINT in a child stage clears inherited CMD" },
  { dir: "shell-instruction", oracle: 'buildkit', what: "SHELL changes RUN/CMD/ENTRYPOINT shell forms and is recorded" },
  { dir: "shell-inherit", oracle: 'buildkit', what: "SHELL inherited through FROM stage" },
  { dir: "healthcheck-full", oracle: 'buildkit', what: "HEALTHCHECK with every flag, exec form" },
  { dir: "healthcheck-shell-form", oracle: 'buildkit', what: "HEALTHCHECK shell form becomes CMD-SHELL, defaults unset" },
  { dir: "healthcheck-none", oracle: 'buildkit', what: "HEALTHCHECK NONE over an inherited one" },
  { dir: "expose", oracle: 'buildkit', what: "EXPOSE protocols, ranges, variables" },
  { dir: "volume", oracle: 'buildkit', what: "VOLUME forms" },
  { dir: "volume-then-run", oracle: 'buildkit', what: "RUN writing into a declared volume" },
  { dir: "labels", oracle: 'buildkit', what: "LABEL forms, override, empty value" },
  { dir: "label-inherit", oracle: 'buildkit', what: "labels merge through stages" },
  { dir: "stopsignal", oracle: 'buildkit', what: "STOPSIGNAL name then number" },
  { dir: "user-forms", oracle: 'buildkit', what: "USER name, uid:gid, name:group through stages" },
  { dir: "maintainer", oracle: 'buildkit', what: "MAINTAINER sets Author and history" },
  { dir: "workdir-relative", oracle: 'buildkit', what: "WORKDIR absolute, relative, with variables; creates dirs" },
  { dir: "workdir-inherit", oracle: 'buildkit', what: "WORKDIR inherited through FROM stage" },
  { dir: "workdir-as-user", oracle: 'buildkit', what: "WORKDIR created while USER is set; RUN as that user" },
  { dir: "onbuild-record", oracle: 'buildkit', what: "ONBUILD instructions stored in config" },
  { dir: "onbuild-trigger", oracle: 'buildkit', what: "ONBUILD triggers run in a child stage and are cleared" },
  { dir: "escape-directive", oracle: 'buildkit', what: "escape parser directive" },
  { dir: "arg-default-override", oracle: 'buildkit', args: { NAME: "overridden", UNSET: "set" }, what: "ARG defaults and --build-arg" },
  { dir: "arg-before-from", oracle: 'buildkit', what: "global ARG in FROM, redeclared in stage" },
  { dir: "arg-global-not-in-stage", oracle: 'buildkit', what: "global ARG not visible without redeclaration" },
  { dir: "arg-after-env", oracle: 'buildkit', args: { X: "from-cli" }, what: "ENV wins over a later ARG of the same name (known divergence)" },
  { dir: "arg-inherited-stage", oracle: 'buildkit', args: { V: "cli" }, what: "ARG declared in a stage is visible to a stage FROM it (known divergence)" },
  { dir: "arg-inherited-target", oracle: 'buildkit', args: { V: "cli" }, target: "mid", what: "ARG inheritance with --target (known divergence)" },
  { dir: "arg-run-env", oracle: 'buildkit', what: "ARG values reach RUN's environment, not the config" },
  { dir: "arg-in-copy-chown", oracle: 'buildkit', what: "ARG expansion in COPY flags and dest" },
  { dir: "target-middle", oracle: 'buildkit', target: "second", what: "--target builds a middle stage" },
  { dir: "copy-from-stage", oracle: 'buildkit', what: "COPY --from a named stage, dir contents and file" },
  { dir: "copy-from-index", oracle: 'buildkit', what: "COPY --from=<index>" },
  { dir: "copy-from-image", oracle: 'buildkit', what: "COPY --from an image reference" },
  { dir: "copy-from-keeps-owner", oracle: 'buildkit', what: "COPY --from keeps source uid/gid and modes (known divergence)" },
  { dir: "copy-from-parent-dirs", oracle: 'buildkit', what: "dirs COPY --from creates are 0755 (known divergence)" },
  { dir: "copy-from-chown", oracle: 'buildkit', what: "COPY --from with --chown" },
  { dir: "copy-from-symlinks", oracle: 'buildkit', what: "COPY --from copies links as links inside a dir, follows a link given as source" },
  { dir: "copy-from-xattrs", oracle: 'buildkit', what: "COPY --from keeps xattrs (known divergence)" },
  { dir: "stage-env-user-inherit", oracle: 'buildkit', what: "ENV/USER/WORKDIR inherited from a stage; RUN runs as the inherited user" },
  { dir: "stage-unused-not-built", oracle: 'buildkit', what: "an unreferenced failing stage is skipped" },
  { dir: "stage-from-stage-chain", oracle: 'buildkit', what: "FROM a previous stage keeps its layers" },
  { dir: "copy-dir-contents", oracle: 'buildkit', what: "COPY of a directory copies its contents" },
  { dir: "copy-multi-src", oracle: 'buildkit', what: "several sources into a dir" },
  { dir: "copy-wildcard", oracle: 'buildkit', what: "wildcards" },
  { dir: "copy-wildcard-nomatch", oracle: 'buildkit', what: "a wildcard matching nothing is a no-op (known divergence)" },
  { dir: "copy-rename", oracle: 'buildkit', what: "file to a non-dir dest renames; trailing slash makes a dir" },
  { dir: "copy-dot-target", oracle: 'buildkit', what: "./name and . targets relative to WORKDIR (known divergence)" },
  { dir: "copy-implicit-parents", oracle: 'buildkit', what: "implicit parent dirs are 0755 root" },
  { dir: "copy-into-existing-dir-owner", oracle: 'buildkit', what: "COPY into an existing dir keeps its owner and mode (known divergence)" },
  { dir: "copy-over-existing-file", oracle: 'buildkit', what: "COPY replaces a base image file" },
  { dir: "copy-onto-symlink-dir", oracle: 'buildkit', what: "COPY into a path whose parent is a symlink to a dir" },
  { dir: "copy-chown-name", oracle: 'buildkit', what: "--chown=NAME takes the primary gid from /etc/passwd (known divergence)" },
  { dir: "copy-chown-ids", oracle: 'buildkit', what: "--chown by id, id:id, id:name, name:id, name:name" },
  { dir: "copy-chown-stage-passwd", oracle: 'buildkit', what: "--chown resolves names from the stage's own /etc/passwd and /etc/group" },
  { dir: "copy-chmod-octal", oracle: 'buildkit', what: "--chmod octal, on dirs, setuid, with --chown" },
  { dir: "copy-chmod-symbolic", oracle: 'manual', what: "--chmod symbolic (newer frontend only)" },
  { dir: "context-symlinks", oracle: 'buildkit', what: "symlinks (relative, absolute, dangling, to dir) copied as links" },
  { dir: "symlink-chain-source", oracle: 'buildkit', what: "symlink chains as COPY sources are followed (known divergence)" },
  { dir: "wildcard-link-to-dir", oracle: 'buildkit', what: "a wildcard matching a link to a dir / to a file (known divergence)" },
  { dir: "hardlinks-context", oracle: 'buildkit', what: "hardlinks in the context (known divergence)" },
  { dir: "special-modes-context", oracle: 'buildkit', what: "setuid/setgid/sticky/private modes and empty dirs from the context" },
  { dir: "long-names", oracle: 'buildkit', what: "names >100 bytes, paths >255 bytes, long link targets (known divergence)" },
  { dir: "unicode-names", oracle: 'buildkit', what: "NFC vs NFD, tabs, newlines, spaces, 4-byte UTF-8 in names (known divergence)" },
  { dir: "dockerignore-basic", oracle: 'buildkit', what: ".dockerignore patterns, negation, **, anchored" },
  { dir: "dockerignore-dockerfile-specific", oracle: 'buildkit', what: "Dockerfile.dockerignore replaces .dockerignore" },
  { dir: "dockerignore-ignores-itself", oracle: 'buildkit', what: ".dockerignore excluding itself, dir/* with exception" },
  { dir: "dockerignore-copy-explicit", oracle: 'buildkit', what: "an ignored file named explicitly in COPY is not there (wildcard form)" },
  { dir: "add-archives", oracle: 'buildkit', what: "ADD extracts tar, gzip, bzip2, xz archives keeping their owners" },
  { dir: "add-not-archive", oracle: 'buildkit', what: "ADD of non-archives copies; --chown" },
  { dir: "add-tar-hardlinks", oracle: 'buildkit', what: "hardlinks inside an ADDed tar (known divergence)" },
  { dir: "add-tar-over-image", oracle: 'buildkit', what: "ADD a local tar over an image: dir\u2192file, dir\u2192link, fifo, mode of an existing dir (known divergence)" },
  { dir: "add-tar-hardlink-to-image", oracle: 'buildkit', what: "ADD a tar whose hardlink points at a file of the image (known divergence)" },
  { dir: "add-tar-whiteout-names", oracle: 'buildkit', what: "ADD tar of plain entries into an existing base dir" },
  { dir: "add-chmod", oracle: 'buildkit', what: "ADD --chmod" },
  { dir: "run-whiteout-file", oracle: 'buildkit', what: "RUN deleting a base file writes a whiteout" },
  { dir: "run-whiteout-dir", oracle: 'buildkit', what: "RUN deleting a base dir" },
  { dir: "run-opaque-dir", oracle: 'buildkit', what: "RUN replacing a dir (opaque dir or whiteouts)" },
  { dir: "whiteouts-across-layers", oracle: 'buildkit', what: "whiteouts and opaque dirs over several layers" },
  { dir: "repeated-identical-layer", oracle: 'buildkit', what: "identical layers repeated in a stack, then RUN (known divergence)" },
  { dir: "run-user", oracle: 'buildkit', what: "RUN as USER name/uid, files owned by it" },
  { dir: "run-exec-form", oracle: 'buildkit', what: "RUN exec form" },
  { dir: "run-modes-special", oracle: 'buildkit', what: "RUN creating fifo, changing a base file's mode, hardlink to base file" },
  { dir: "run-mount-bind-from", oracle: 'buildkit', what: "RUN --mount bind from a stage and cache (mounts leave no trace)" },
  { dir: "run-env-args", oracle: 'buildkit', what: "RUN sees ARG and ENV; HOME default" },
  { dir: "run-chmod-chown-base", oracle: 'buildkit', what: "metadata-only change of base files" },
  { dir: "volume-copy", oracle: 'buildkit', what: "COPY into a declared volume" },
  { dir: "from-args-multi", oracle: 'buildkit', what: "ARG in FROM, stage chain, redeclared global" },
  { dir: "copy-from-later-stage-case", oracle: 'buildkit', what: "stage names are case-insensitive" },
  { dir: "copy-file-to-existing-dir-no-slash", oracle: 'buildkit', what: "COPY file to an existing dir without trailing slash goes inside" },
  { dir: "copy-dir-over-file-target", oracle: 'buildkit', what: "dir contents merged into existing /etc" },
  { dir: "heredoc-run", oracle: 'manual', what: "RUN heredoc" },
  { dir: "heredoc-copy", oracle: 'manual', what: "COPY heredoc with chmod, <<- tab stripping" },
  { dir: "copy-parents", oracle: 'manual', what: "COPY --parents keeps source dirs" },
  { dir: "copy-parents-doublestar", oracle: 'manual', what: "--parents with ** matching zero dirs (known divergence)" },
  { dir: "copy-exclude", oracle: 'manual', what: "COPY --exclude" },
  { dir: "copy-link", oracle: 'manual', what: "COPY --link gives the same tree" },
  { dir: "sde-workdir-mtime", oracle: 'manual', epoch: 1700000000, what: "SOURCE_DATE_EPOCH clamps every mtime (WORKDIR-created dirs)" },
  { dir: "sde-scratch-copy", oracle: 'manual', epoch: 1700000000, what: "SOURCE_DATE_EPOCH on COPY and ADD" },
  { dir: "chmod-dir-copy-from", oracle: 'buildkit', what: "--chmod with --from applies to dirs and files" },
];

// Which server runs: the one bundled in the VSIX (in a private environment) or one already
// installed in the user's Python. Pure functions, no `vscode` import, so they are unit-tested
// in plain Node.

export const MINIMUM_PYTHON: readonly [number, number] = [3, 11];

/** What a Python interpreter says about itself (the output of PROBE_SCRIPT). */
export interface PythonProbe {
    /** sys.version_info[:2] */
    version: [number, number];
    /** The deepthink-lsp installed there, or null. */
    server: string | null;
}

/**
 * Printed by any Python 3, even one too old to run the server, so that the error can say
 * which version was found. `-P` is not used: it does not exist before 3.11.
 */
export const PROBE_SCRIPT = [
    'import json, sys',
    'try:',
    '    from importlib.metadata import version',
    "    server = version('deepthink-lsp')",
    'except Exception:',
    '    server = None',
    "print(json.dumps({'version': list(sys.version_info[:2]), 'server': server}))",
].join('\n');

/** The probe's output, or undefined when it is not what PROBE_SCRIPT prints. */
export function parseProbe(output: string): PythonProbe | undefined {
    try {
        const value: unknown = JSON.parse(output.trim());
        if (typeof value !== 'object' || value === null) {
            return undefined;
        }
        const { version, server } = value as Record<string, unknown>;
        if (
            Array.isArray(version) &&
            version.length === 2 &&
            version.every((part) => Number.isInteger(part)) &&
            (server === null || typeof server === 'string')
        ) {
            return { version: [version[0] as number, version[1] as number], server };
        }
    } catch {
        // not JSON: fall through
    }
    return undefined;
}

export function isSupported(version: readonly [number, number]): boolean {
    const [major, minor] = version;
    return major > MINIMUM_PYTHON[0] || (major === MINIMUM_PYTHON[0] && minor >= MINIMUM_PYTHON[1]);
}

/**
 * Compare two versions by their release numbers (`1.2.3` in `1.2.3rc1+local`): negative,
 * zero or positive. A pre-release or local suffix is ignored, so `0.2.0rc1` counts as
 * `0.2.0`: an installed pre-release of a newer server is newer than the bundled one.
 */
export function compareVersions(a: string, b: string): number {
    const release = (version: string): number[] =>
        (/^\s*v?(\d+(?:\.\d+)*)/.exec(version)?.[1] ?? '0').split('.').map(Number);
    const left = release(a);
    const right = release(b);
    for (let index = 0; index < Math.max(left.length, right.length); index++) {
        const difference = (left[index] ?? 0) - (right[index] ?? 0);
        if (difference !== 0) {
            return difference;
        }
    }
    return 0;
}

/**
 * The rule: a server already installed in the interpreter is used only when its version is
 * strictly newer than the bundled one (someone installed it on purpose, e.g. from a
 * checkout). Otherwise the bundled server runs, so the extension and its server always match.
 */
export function prefersInstalled(installed: string | null, bundled: string): boolean {
    return installed !== null && compareVersions(installed, bundled) > 0;
}

/**
 * The private environment's folder name: one per extension version and Python minor
 * version, since the native wheels it holds are built for one Python version.
 */
export function environmentName(extensionVersion: string, python: readonly [number, number]): string {
    return `server-${extensionVersion}-py${python[0]}.${python[1]}`;
}

/** Whether a storage entry is an environment (or a partial one) of another extension version. */
export function isStaleEnvironment(entry: string, extensionVersion: string): boolean {
    return entry.startsWith('server-') && !entry.startsWith(`server-${extensionVersion}-py`);
}

/** The server version a bundled wheel carries: `deepthink_lsp-0.1.0-py3-none-any.whl` gives `0.1.0`. */
export function wheelVersion(fileName: string): string | undefined {
    return /^deepthink_lsp-([^-]+)-.+\.whl$/.exec(fileName)?.[1];
}

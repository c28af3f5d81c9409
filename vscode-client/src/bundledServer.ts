// The server bundled in the VSIX: wheels for CPython 3.11-3.13 (scripts/bundle-server.sh),
// installed offline on first use into a private environment in the extension's storage.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { devNull } from 'node:os';
import { join } from 'node:path';
import { LogOutputChannel, ProgressLocation, window } from 'vscode';
import { FoundPython, probePython } from './interpreter';
import { environmentName, isStaleEnvironment, wheelVersion } from './serverChoice';

export interface Bundle {
    /** The folder of wheels, given to pip as its only source. */
    wheels: string;
    /** pip's own wheel: run from the wheel, so the user's Python needs no pip or ensurepip. */
    pipWheel: string;
    /** The version of the bundled deepthink-lsp. */
    version: string;
}

/** The bundle in the installed extension, or undefined for a VSIX built without it. */
export function findBundle(extensionPath: string): Bundle | undefined {
    const wheels = join(extensionPath, 'bundled', 'wheels');
    const files = existsSync(wheels) ? readdirSync(wheels) : [];
    const server = files.map(wheelVersion).find((version) => version !== undefined);
    const pip = files.find((file) => /^pip-.+\.whl$/.test(file));
    return server && pip ? { wheels, pipWheel: join(wheels, pip), version: server } : undefined;
}

/**
 * The Python of the private environment holding the bundled server for this Python's
 * version, installed first if needed. An environment is only ever seen complete: it is built
 * under a temporary name and renamed, so a window starting meanwhile (or a crash halfway)
 * never finds half of one.
 */
export async function bundledServerPython(
    python: FoundPython,
    bundle: Bundle,
    storage: string,
    extensionVersion: string,
    log: LogOutputChannel,
): Promise<string> {
    const name = environmentName(extensionVersion, python.probe.version);
    const environment = join(storage, name);
    const environmentPython = pythonIn(environment);
    if ((await probePython(environmentPython))?.server === bundle.version) {
        return environmentPython;
    }
    // Missing, or broken (e.g. the Python it was made from is gone): build it again.
    await rm(environment, { recursive: true, force: true });
    await window.withProgress(
        {
            location: ProgressLocation.Notification,
            title: `Deep think: installing its server for Python ${python.probe.version.join('.')} (first use only)`,
        },
        () => install(python, bundle, storage, environment, log),
    );
    await removeOtherVersions(storage, extensionVersion);
    return environmentPython;
}

async function install(
    python: FoundPython,
    bundle: Bundle,
    storage: string,
    environment: string,
    log: LogOutputChannel,
): Promise<void> {
    await mkdir(storage, { recursive: true });
    const partial = await mkdtemp(`${environment}.partial-`);
    try {
        log.info(`Installing deepthink-lsp ${bundle.version} from the bundled wheels with ${python.path}`);
        await run(python.path, ['-m', 'venv', '--without-pip', partial]);
        await run(pythonIn(partial), [
            join(bundle.pipWheel, 'pip'),
            'install',
            '--no-index',
            '--find-links',
            bundle.wheels,
            '--no-warn-script-location',
            '--disable-pip-version-check',
            `deepthink-lsp==${bundle.version}`,
        ]);
        await rename(partial, environment).catch(async (error: unknown) => {
            // Another window finished the same environment first: use theirs.
            if (!existsSync(pythonIn(environment))) {
                throw error;
            }
            await rm(partial, { recursive: true, force: true });
        });
        log.info(`Installed deepthink-lsp ${bundle.version} in ${environment}`);
    } catch (error) {
        await rm(partial, { recursive: true, force: true });
        throw new Error(
            `Deep think could not install its bundled server for ${python.path} ` +
                `(Python ${python.probe.version.join('.')}): ${error instanceof Error ? error.message : String(error)}`,
        );
    }
}

/** Environments of earlier (or later) extension versions are of no use to this one. */
async function removeOtherVersions(storage: string, extensionVersion: string): Promise<void> {
    for (const entry of readdirSync(storage)) {
        if (isStaleEnvironment(entry, extensionVersion)) {
            await rm(join(storage, entry), { recursive: true, force: true });
        }
    }
}

function pythonIn(environment: string): string {
    return process.platform === 'win32' ? join(environment, 'Scripts', 'python.exe') : join(environment, 'bin', 'python');
}

/**
 * Run a command of the installation. pip sees none of the user's pip configuration: a
 * config file or PIP_* variable could add an index, a constraint or a proxy that has no
 * business in an offline install of known wheels.
 */
function run(command: string, args: string[]): Promise<void> {
    const env: NodeJS.ProcessEnv = Object.fromEntries(
        Object.entries(process.env).filter(([name]) => !name.startsWith('PIP_') && name !== 'PYTHONPATH'),
    );
    env.PIP_CONFIG_FILE = devNull;
    return new Promise((resolve, reject) => {
        execFile(command, args, { env, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
            if (error) {
                const detail = stderr.trim().split('\n').slice(-5).join('\n');
                reject(new Error(`${[command, ...args].join(' ')} failed: ${detail || error.message}`));
            } else {
                resolve();
            }
        });
    });
}

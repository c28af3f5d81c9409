// Which Python runs the server: the first Python 3.11+ among the `deepthink.interpreter`
// setting, the Python extension's active interpreter and the usual names on the PATH.
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { Event, extensions, Uri, workspace } from 'vscode';
import { isSupported, parseProbe, PROBE_SCRIPT, PythonProbe } from './serverChoice';
import { expandInterpreterSetting, SECTION } from './settings';

/** The part of the Python extension's API used here (ms-python.python exports). */
interface PythonExtensionApi {
    environments: {
        getActiveEnvironmentPath(resource?: Uri): { path: string };
        resolveEnvironment(path: string): Promise<{ executable: { uri?: Uri } } | undefined>;
        readonly onDidChangeActiveEnvironmentPath: Event<unknown>;
    };
}

export interface Interpreter {
    path: string;
    /** Where the path came from, for the log and error messages. */
    source: 'deepthink.interpreter' | 'the Python extension' | 'the PATH';
}

export interface FoundPython extends Interpreter {
    probe: PythonProbe;
}

/** Tried in this order when neither the setting nor the Python extension gives a usable Python. */
const PATH_NAMES = ['python3', 'python3.13', 'python3.12', 'python3.11', 'python'];

/**
 * The first Python 3.11+ found, or an Error saying what was tried. A `deepthink.interpreter`
 * setting is the only candidate when set: the user chose it, and another Python would
 * surprise them.
 */
export async function findPython(folder: Uri | undefined): Promise<FoundPython | Error> {
    // Machine scope: only the user's own settings may choose the program that is run.
    const setting = workspace.getConfiguration(SECTION, folder).inspect<string>('interpreter')?.globalValue ?? '';
    const configured = expandInterpreterSetting(setting, folder?.fsPath, homedir());
    const candidates: Interpreter[] = configured
        ? [{ path: configured, source: 'deepthink.interpreter' }]
        : [
              ...(await pythonExtensionInterpreter(folder)),
              ...PATH_NAMES.map((name): Interpreter => ({ path: name, source: 'the PATH' })),
          ];
    const tried: string[] = [];
    for (const candidate of candidates) {
        const probe = await probePython(candidate.path);
        if (probe && isSupported(probe.version)) {
            return { ...candidate, probe };
        }
        tried.push(`${candidate.path} (${probe ? `Python ${probe.version.join('.')}` : 'not found or not Python 3'})`);
    }
    const advice = configured
        ? 'Set "deepthink.interpreter" in your user settings to a Python 3.11 or later.'
        : 'Install Python 3.11 or later, or set "deepthink.interpreter" in your user settings to one.';
    return new Error(`Deep think needs Python 3.11 or later to run its server. Tried: ${tried.join(', ')}. ${advice}`);
}

/** What `python` says about itself; undefined when it can't be run or is not Python 3. */
export function probePython(python: string): Promise<PythonProbe | undefined> {
    return new Promise((resolve) => {
        execFile(python, ['-c', PROBE_SCRIPT], { timeout: 30_000 }, (error, stdout) => {
            resolve(error ? undefined : parseProbe(stdout));
        });
    });
}

async function pythonExtensionInterpreter(folder: Uri | undefined): Promise<Interpreter[]> {
    const python = await pythonExtensionApi();
    const active = python?.environments.getActiveEnvironmentPath(folder);
    const resolved = active && (await python?.environments.resolveEnvironment(active.path));
    const path = resolved?.executable.uri?.fsPath;
    return path ? [{ path, source: 'the Python extension' }] : [];
}

/** Fires when the Python extension's active interpreter changes; undefined without it. */
export async function onDidChangePythonInterpreter(): Promise<Event<unknown> | undefined> {
    return (await pythonExtensionApi())?.environments.onDidChangeActiveEnvironmentPath;
}

async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
    const extension = extensions.getExtension<PythonExtensionApi>('ms-python.python');
    if (!extension) {
        return undefined;
    }
    try {
        return extension.isActive ? extension.exports : await extension.activate();
    } catch {
        return undefined; // a broken Python extension must not stop us: the PATH is the fallback
    }
}

/**
 * Python's flags for running the server: -P keeps the working directory (the user's
 * project) off sys.path, so a project's own `server` package can't shadow ours.
 */
export const PYTHON_FLAGS = ['-P'];

// Which Python runs the server, and whether the server is installed there.
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { Event, extensions, Uri, workspace } from 'vscode';
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
    source: 'deepthink.interpreter' | 'the Python extension' | 'the default';
}

/** The `deepthink.interpreter` setting, else the Python extension's active interpreter, else `python3`. */
export async function findInterpreter(folder: Uri | undefined): Promise<Interpreter> {
    const setting = workspace.getConfiguration(SECTION, folder).get<string>('interpreter', '');
    const configured = expandInterpreterSetting(setting, folder?.fsPath, homedir());
    if (configured) {
        return { path: configured, source: 'deepthink.interpreter' };
    }
    const python = await pythonExtensionApi();
    const active = python?.environments.getActiveEnvironmentPath(folder);
    const resolved = active && (await python?.environments.resolveEnvironment(active.path));
    if (resolved && resolved.executable.uri) {
        return { path: resolved.executable.uri.fsPath, source: 'the Python extension' };
    }
    return { path: 'python3', source: 'the default' };
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
        return undefined; // a broken Python extension must not stop us: python3 is the fallback
    }
}

/**
 * Python's flags for running the server: -P keeps the working directory (the user's
 * project) off sys.path, so a project's own `server` package can't shadow ours.
 */
export const PYTHON_FLAGS = ['-P'];

const VERSION_CHECK = "import importlib.metadata as m; print(m.version('deepthink-lsp'))";

/** The installed server's version, or an Error saying what is wrong and how to fix it. */
export function serverVersion(interpreter: Interpreter): Promise<string | Error> {
    return new Promise((resolve) => {
        execFile(
            interpreter.path,
            [...PYTHON_FLAGS, '-c', VERSION_CHECK],
            { timeout: 30_000 },
            (error, stdout) => {
                if (!error) {
                    resolve(stdout.trim());
                } else if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
                    resolve(
                        new Error(
                            `Python interpreter "${interpreter.path}" (from ${interpreter.source}) not found. ` +
                                'Set "deepthink.interpreter" to a Python 3.11+ that has deepthink-lsp installed.',
                        ),
                    );
                } else {
                    resolve(
                        new Error(
                            `The deepthink-lsp server is not installed for "${interpreter.path}" (from ${interpreter.source}). ` +
                                `Install it with "${interpreter.path} -m pip install deepthink-lsp" (Python 3.11+), ` +
                                'or set "deepthink.interpreter" to a Python that has it, then run "Deep think: Restart server".',
                        ),
                    );
                }
            },
        );
    });
}

// Starts the deepthink-lsp server and adds what a server can't do alone: prompting for a
// question, keeping the API key in secret storage, and opening a result as a preview.
import { commands, ExtensionContext, LogOutputChannel, window, workspace } from 'vscode';
import { HoverRequest, LanguageClient, MarkupContent } from 'vscode-languageclient/node';
import { ASK_COMMAND, createClient, RUN_COMMAND, RunArguments } from './client';
import { findInterpreter, onDidChangePythonInterpreter, serverVersion } from './interpreter';
import { withoutFileLinks } from './markdown';
import { RESULT_SCHEME, RESULT_URI, ResultDocument } from './result';
import { SECTION } from './settings';

const API_KEY_SECRET = 'deepthink.apiKey';

let client: LanguageClient | undefined;
// Starts and stops run one at a time, in the order they were asked for.
let lifecycle: Promise<void> = Promise.resolve();

export async function activate(context: ExtensionContext): Promise<void> {
    const log = window.createOutputChannel('Deep think', { log: true });
    const resultDocument = new ResultDocument();
    context.subscriptions.push(log, resultDocument);

    const restart = (): Promise<void> => {
        lifecycle = lifecycle
            .then(async () => {
                await stopClient();
                client = await startClient(context, log);
            })
            .catch((error: unknown) => log.error(`The server failed to start: ${String(error)}`));
        return lifecycle;
    };

    context.subscriptions.push(
        workspace.registerTextDocumentContentProvider(RESULT_SCHEME, resultDocument),
        commands.registerCommand(ASK_COMMAND, askWithPrompt),
        commands.registerCommand('deepthink.setApiKey', () => setApiKey(context)),
        commands.registerCommand('deepthink.showResult', () => showResult(resultDocument)),
        commands.registerCommand('deepthink.restart', restart),
        // The key reaches the server only through its environment, so a new key needs a new server.
        context.secrets.onDidChange((event) => {
            if (event.key === API_KEY_SECRET) {
                void restart();
            }
        }),
        workspace.onDidChangeConfiguration((event) => {
            if (event.affectsConfiguration(`${SECTION}.interpreter`)) {
                void restart();
            }
        }),
    );
    const pythonInterpreterChanged = await onDidChangePythonInterpreter();
    if (pythonInterpreterChanged) {
        context.subscriptions.push(
            pythonInterpreterChanged(() => {
                if (!workspace.getConfiguration(SECTION).get<string>('interpreter')) {
                    void restart();
                }
            }),
        );
    }
    await restart();
}

export async function deactivate(): Promise<void> {
    await lifecycle;
    await stopClient();
}

async function startClient(context: ExtensionContext, log: LogOutputChannel): Promise<LanguageClient | undefined> {
    const interpreter = await findInterpreter(workspace.workspaceFolders?.[0]?.uri);
    const version = await serverVersion(interpreter);
    if (version instanceof Error) {
        log.error(version.message);
        void window.showErrorMessage(version.message, 'Set interpreter').then((choice) => {
            if (choice) {
                void commands.executeCommand('workbench.action.openSettings', `${SECTION}.interpreter`);
            }
        });
        return undefined;
    }
    log.info(`Starting deepthink-lsp ${version} with ${interpreter.path} (from ${interpreter.source})`);
    const started = createClient(interpreter, await context.secrets.get(API_KEY_SECRET), log);
    await started.start();
    return started;
}

async function stopClient(): Promise<void> {
    const running = client;
    client = undefined;
    await running?.stop();
}

/** "Deep think: Ask…": from the code action (its arguments) or the palette (the selection). */
async function askWithPrompt(action?: RunArguments): Promise<void> {
    const running = runningClient();
    const target = running && (action ?? selectionArguments(running));
    if (running && !target) {
        void window.showInformationMessage('Deep think: select the code to ask about first.');
    }
    if (!target) {
        return;
    }
    const question = await window.showInputBox({
        title: 'Deep think: ask…',
        prompt: 'Your question about the selected code',
        ignoreFocusOut: true,
        validateInput: (value) => (value.trim() ? undefined : 'Type a question, or press Escape to cancel.'),
    });
    if (question !== undefined) {
        // The command the client registered for the server: the same path as the code actions.
        await commands.executeCommand(RUN_COMMAND, { ...target, question: question.trim() });
    }
}

function runningClient(): LanguageClient | undefined {
    if (!client?.isRunning()) {
        void window.showErrorMessage('Deep think: the server is not running; see the "Deep think" output.');
        return undefined;
    }
    return client;
}

function selectionArguments(running: LanguageClient): RunArguments | undefined {
    const editor = window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
        return undefined;
    }
    return {
        uri: running.code2ProtocolConverter.asUri(editor.document.uri),
        range: running.code2ProtocolConverter.asRange(editor.selection),
        mode: 'ask',
    };
}

async function setApiKey(context: ExtensionContext): Promise<void> {
    const key = await window.showInputBox({
        title: 'Deep think: set API key',
        prompt: "The endpoint's API key, kept in VS Code's secret storage. Leave empty to remove it.",
        password: true,
        ignoreFocusOut: true,
    });
    if (key === undefined) {
        return;
    }
    // Storing fires secrets.onDidChange, which restarts the server with the new key.
    await (key.trim() ? context.secrets.store(API_KEY_SECRET, key.trim()) : context.secrets.delete(API_KEY_SECRET));
}

/**
 * "Deep think: Open result beside the editor": the result the server shows on hover over
 * the selected code, as a markdown preview. The selection's last line is asked because an
 * inserted comment lands above the code, inside a selection that started at its first line.
 */
async function showResult(resultDocument: ResultDocument): Promise<void> {
    const editor = window.activeTextEditor;
    const running = editor && runningClient();
    if (!editor) {
        void window.showInformationMessage('Deep think: select the code whose result to open first.');
    }
    if (!editor || !running) {
        return;
    }
    const { start, end } = editor.selection;
    const line = end.line > start.line && end.character === 0 ? end.line - 1 : end.line;
    const hover = await running.sendRequest(HoverRequest.type, {
        textDocument: { uri: running.code2ProtocolConverter.asUri(editor.document.uri) },
        position: { line, character: 0 },
    });
    if (!hover || !MarkupContent.is(hover.contents)) {
        void window.showInformationMessage('Deep think: no result here. Select code that has one (hover shows it).');
        return;
    }
    resultDocument.update(withoutFileLinks(hover.contents.value));
    await commands.executeCommand('markdown.showPreviewToSide', RESULT_URI);
}

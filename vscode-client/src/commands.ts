// The extension's commands (palette, editor context menu, SCM view, keybinding): each one
// turns the editor's state into a call of one of the server's commands.
import { commands, Disposable, QuickPickItem, TextEditor, Uri, window, workspace } from 'vscode';
import { ExecuteCommandRequest, HoverRequest, LanguageClient, MarkupContent } from 'vscode-languageclient/node';
import { ASK_COMMAND, RUN_COMMAND, RunArguments } from './client';
import { withoutFileLinks } from './markdown';
import { RESULT_URI, ResultDocument } from './result';
import { CANCEL_COMMAND_ID, SHOW_RESULT_COMMAND_ID } from './statusBar';

/** The server's commands besides `deepthink.run` (see server/actions.py). */
const SERVER_CANCEL = 'deepthink.cancel';
const SERVER_CLEAR_DIAGNOSTICS = 'deepthink.clearDiagnostics';
const SERVER_RESULT = 'deepthink.result';

const MENU_COMMAND = 'deepthink.menu';

interface MenuItem extends QuickPickItem {
    command: string;
}

/** The deep-think menu (the keybinding's): what applies to the editor's state. */
const MENU: { label: string; command: string; needsSelection: boolean }[] = [
    { label: 'Explain', command: 'deepthink.explain', needsSelection: true },
    { label: 'Review', command: 'deepthink.review', needsSelection: true },
    { label: 'Ask…', command: ASK_COMMAND, needsSelection: true },
    { label: 'Review diff of this file', command: 'deepthink.reviewDiff', needsSelection: false },
    { label: 'Review diff of the workspace', command: 'deepthink.reviewWorkspaceDiff', needsSelection: false },
    { label: 'Open result beside the editor', command: SHOW_RESULT_COMMAND_ID, needsSelection: false },
    { label: 'Clear findings', command: 'deepthink.clearFindings', needsSelection: false },
    { label: 'Cancel running deep thinks', command: CANCEL_COMMAND_ID, needsSelection: false },
];

/**
 * `client` gives the client once any start or restart under way has finished, so that a
 * command given meanwhile (say, right after setting the API key) waits for the new server.
 */
export function registerCommands(
    client: () => Promise<LanguageClient | undefined>,
    resultDocument: ResultDocument,
): Disposable[] {
    /** The running client, or undefined after telling the user why nothing happens. */
    const running = async (): Promise<LanguageClient | undefined> => {
        const current = await client();
        if (!current?.isRunning()) {
            void window.showErrorMessage('Deep think: the server is not running; see the "Deep think" output.');
            return undefined;
        }
        return current;
    };

    const onSelection = (mode: 'explain' | 'review') => async (): Promise<void> => {
        const current = await running();
        const target = current && selectionArguments(current, mode);
        if (target) {
            await commands.executeCommand(RUN_COMMAND, target);
        }
    };

    return [
        commands.registerCommand('deepthink.explain', onSelection('explain')),
        commands.registerCommand('deepthink.review', onSelection('review')),
        commands.registerCommand(ASK_COMMAND, async (action?: RunArguments) => {
            const current = await running();
            const target = current && (action ?? selectionArguments(current, 'ask'));
            if (target) {
                await askAndRun(target);
            }
        }),
        commands.registerCommand('deepthink.reviewDiff', async () => {
            const current = await running();
            const editor = current && activeEditor('review the diff of');
            if (current && editor) {
                await commands.executeCommand(RUN_COMMAND, reviewDiffArguments(current, editor));
            }
        }),
        // From the SCM view's title its source control comes as the argument: its root names
        // the repository when no editor is open.
        commands.registerCommand('deepthink.reviewWorkspaceDiff', async (sourceControl?: { rootUri?: Uri }) => {
            const current = await running();
            const uri = window.activeTextEditor?.document.uri ?? sourceControl?.rootUri ?? workspace.workspaceFolders?.[0]?.uri;
            if (current && uri) {
                const target: RunArguments = { uri: current.code2ProtocolConverter.asUri(uri), mode: 'review-diff', scope: 'workspace' };
                await commands.executeCommand(RUN_COMMAND, target);
            }
        }),
        commands.registerCommand(CANCEL_COMMAND_ID, async () => {
            const current = await running();
            if (current) {
                await serverCommand(current, SERVER_CANCEL);
            }
        }),
        commands.registerCommand('deepthink.clearFindings', async () => {
            const current = await running();
            if (current) {
                await serverCommand(current, SERVER_CLEAR_DIAGNOSTICS);
            }
        }),
        commands.registerCommand(SHOW_RESULT_COMMAND_ID, async () => {
            const current = await running();
            const markdown = current && (await resultMarkdown(current));
            if (current && !markdown) {
                void window.showInformationMessage('Deep think: no result here. Select code that has one (hover shows it).');
            }
            if (markdown) {
                resultDocument.update(withoutFileLinks(markdown));
                await commands.executeCommand('markdown.showPreviewToSide', RESULT_URI);
            }
        }),
        commands.registerCommand(MENU_COMMAND, async () => {
            const hasSelection = window.activeTextEditor?.selection.isEmpty === false;
            const items: MenuItem[] = MENU.filter((item) => hasSelection || !item.needsSelection).map((item) => ({
                label: item.label,
                command: item.command,
            }));
            const picked = await window.showQuickPick(items, { title: 'Deep think', placeHolder: 'What should the agents do?' });
            if (picked) {
                await commands.executeCommand(picked.command);
            }
        }),
    ];
}

async function serverCommand(client: LanguageClient, command: string, argument?: object): Promise<unknown> {
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: argument ? [argument] : [] });
}

function activeEditor(what: string): TextEditor | undefined {
    const editor = window.activeTextEditor;
    if (!editor) {
        void window.showInformationMessage(`Deep think: open the file to ${what} first.`);
    }
    return editor;
}

function selectionArguments(client: LanguageClient, mode: RunArguments['mode']): RunArguments | undefined {
    const editor = window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
        void window.showInformationMessage('Deep think: select the code to think about first.');
        return undefined;
    }
    return {
        uri: client.code2ProtocolConverter.asUri(editor.document.uri),
        range: client.code2ProtocolConverter.asRange(editor.selection),
        mode,
    };
}

/** The file's uncommitted changes; a selection only says where the summary goes. */
function reviewDiffArguments(client: LanguageClient, editor: TextEditor): RunArguments {
    const uri = client.code2ProtocolConverter.asUri(editor.document.uri);
    return editor.selection.isEmpty
        ? { uri, mode: 'review-diff' }
        : { uri, mode: 'review-diff', range: client.code2ProtocolConverter.asRange(editor.selection) };
}

/** VS Code can't prompt from inside a server command, so ask first, then run the server's. */
async function askAndRun(target: RunArguments): Promise<void> {
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

/**
 * The result to open: the server's last one for the active document (any document without
 * one) when it offers `deepthink.result`; else the one it shows on hover over the selection.
 */
async function resultMarkdown(client: LanguageClient): Promise<string | undefined> {
    const editor = window.activeTextEditor;
    const offered = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
    if (offered.includes(SERVER_RESULT)) {
        const uri = editor && client.code2ProtocolConverter.asUri(editor.document.uri);
        const forDocument = uri ? await serverCommand(client, SERVER_RESULT, { uri }) : undefined;
        const result = (forDocument ?? (await serverCommand(client, SERVER_RESULT))) as { markdown?: string } | null;
        return result?.markdown;
    }
    if (!editor) {
        return undefined;
    }
    // The selection's last line: an inserted comment lands above the code, inside a selection
    // that started at its first line.
    const { start, end } = editor.selection;
    const line = end.line > start.line && end.character === 0 ? end.line - 1 : end.line;
    const hover = await client.sendRequest(HoverRequest.type, {
        textDocument: { uri: client.code2ProtocolConverter.asUri(editor.document.uri) },
        position: { line, character: 0 },
    });
    return hover && MarkupContent.is(hover.contents) ? hover.contents.value : undefined;
}

// A deep-think result as a read-only markdown document, for the preview beside the editor.
import { EventEmitter, TextDocumentContentProvider, Uri } from 'vscode';

export const RESULT_SCHEME = 'deepthink-result';
export const RESULT_URI = Uri.from({ scheme: RESULT_SCHEME, path: '/Deep think result.md' });

/**
 * One virtual document holding the result last opened, so that an open preview follows it.
 * Virtual rather than untitled: closing it never asks to save.
 */
export class ResultDocument implements TextDocumentContentProvider {
    private readonly changed = new EventEmitter<Uri>();
    readonly onDidChange = this.changed.event;
    private markdown = '';

    update(markdown: string): void {
        this.markdown = markdown;
        this.changed.fire(RESULT_URI);
    }

    provideTextDocumentContent(): string {
        return this.markdown;
    }

    dispose(): void {
        this.changed.dispose();
    }
}

// The server's work-done progress as a cancellable notification, and in the extension's status
// bar item. vscode-languageclient shows server-initiated progress in the window's progress
// area only, where a long deep think goes unnoticed and Cancel is out of reach.
import { CancellationToken, Progress, ProgressLocation, window } from 'vscode';
import {
    BaseLanguageClient,
    FeatureState,
    StaticFeature,
    WorkDoneProgress,
    WorkDoneProgressBegin,
    WorkDoneProgressCancelNotification,
    WorkDoneProgressCreateRequest,
    WorkDoneProgressReport,
} from 'vscode-languageclient/node';
import { RunStatusBar } from './statusBar';

/** Registered after the client's own progress feature, so its handler is the one that stays. */
export class NotificationProgressFeature implements StaticFeature {
    private readonly active = new Set<NotificationProgress>();

    constructor(
        private readonly client: BaseLanguageClient,
        private readonly statusBar: RunStatusBar,
    ) {}

    fillClientCapabilities(): void {
        // The client's progress feature already announces window.workDoneProgress.
    }

    initialize(): void {
        this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
            const progress = new NotificationProgress(this.client, this.statusBar, token, () =>
                this.active.delete(progress),
            );
            this.active.add(progress);
        });
    }

    getState(): FeatureState {
        return { kind: 'static' };
    }

    clear(): void {
        for (const progress of this.active) {
            progress.end(undefined);
        }
        this.active.clear();
    }
}

class NotificationProgress {
    private readonly listener: { dispose(): void };
    private reported = 0;
    private progress: Progress<{ message?: string; increment?: number }> | undefined;
    private finish: (() => void) | undefined;
    private ended = false;

    constructor(
        private readonly client: BaseLanguageClient,
        private readonly statusBar: RunStatusBar,
        private readonly token: string | number,
        private readonly onEnd: () => void,
    ) {
        this.listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
            if (value.kind === 'begin') {
                this.begin(value);
            } else if (value.kind === 'report') {
                this.report(value);
            } else {
                this.end(value.message);
            }
        });
    }

    private begin(value: WorkDoneProgressBegin): void {
        this.statusBar.begin(this.token, value.title);
        void window.withProgress(
            { location: ProgressLocation.Notification, title: value.title, cancellable: value.cancellable },
            (progress, cancellation: CancellationToken) => {
                if (this.ended) {
                    return Promise.resolve();
                }
                this.progress = progress;
                cancellation.onCancellationRequested(() => {
                    void this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token: this.token });
                });
                this.report(value);
                return new Promise<void>((resolve) => (this.finish = resolve));
            },
        );
    }

    private report(value: WorkDoneProgressBegin | WorkDoneProgressReport): void {
        const percentage = Math.max(this.reported, Math.min(value.percentage ?? this.reported, 100));
        this.progress?.report({ message: value.message, increment: percentage - this.reported });
        this.reported = percentage;
        this.statusBar.report(this.token, value.message);
    }

    end(message: string | undefined): void {
        if (this.ended) {
            return;
        }
        this.ended = true;
        this.listener.dispose();
        this.finish?.();
        this.statusBar.end(this.token, message);
        this.onEnd();
    }
}

// What the status bar item says about deep-think runs, from the server's progress texts.
// Pure functions, no `vscode` import, so they are unit-tested in plain Node.

const MAX_CHARS = 60;

export interface StatusText {
    text: string;
    tooltip: string;
}

/** The short part of a progress text: "running: 1 done, 1 running — semantics: done, …" gives its head. */
function short(message: string): string {
    const head = message.replace(/^Deep think:\s*/, '').split(' — ')[0].trim();
    return head.length > MAX_CHARS ? `${head.slice(0, MAX_CHARS - 1)}…` : head;
}

export const statusText = {
    /** While runs go: the spinner and the latest text of the newest run. */
    running(messages: string[]): StatusText {
        const newest = messages[messages.length - 1] ?? '';
        const others = messages.length > 1 ? ` (+${messages.length - 1} more)` : '';
        return {
            text: `$(sync~spin) Deep think: ${short(newest)}${others}`,
            tooltip: `${messages.length} deep-think run${messages.length > 1 ? 's' : ''} going. Click to cancel ${messages.length > 1 ? 'them' : 'it'}.`,
        };
    },

    /** After the last run: how it ended ("done in 12 s: 2 of 2 agents answered, …" gives "done in 12 s"). */
    ended(message: string | undefined): StatusText & { canOpen: boolean } {
        const full = message?.trim() || 'done';
        const outcome = short(full.split(':')[0]);
        const canOpen = /^(partly )?done\b/.test(full);
        const icon = canOpen ? '$(check)' : full.startsWith('cancelled') ? '$(circle-slash)' : '$(warning)';
        return {
            text: `${icon} Deep think: ${outcome}`,
            tooltip: canOpen ? `${full}. Click to open the result.` : full,
            canOpen,
        };
    },
};

// Pure text helpers for the result preview; no `vscode` import, so unit-tested in plain Node.

/**
 * The markdown with its `file:` links replaced by their text. The server links citations to
 * `file:` URIs, which work in hovers, but VS Code's markdown preview refuses that scheme and
 * would show the raw `[text](file:///...)` instead.
 */
export function withoutFileLinks(markdown: string): string {
    return markdown.replace(/\[([^\]]*)\]\(file:[^)\s]*\)/g, '$1');
}

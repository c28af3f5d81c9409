import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withoutFileLinks } from '../src/markdown';

describe('withoutFileLinks', () => {
    it('keeps the text of file: links', () => {
        assert.equal(
            withoutFileLinks('Divides by zero ([`a.py:2`](file:///tmp/p/a.py#L2)), see [b](file:///tmp/p/b.py).'),
            'Divides by zero (`a.py:2`), see b.',
        );
    });

    it('leaves other links and plain text alone', () => {
        const markdown = '[docs](https://example.com/a_(b)) and [x](#y), `file:///tmp`';
        assert.equal(withoutFileLinks(markdown), markdown);
    });
});

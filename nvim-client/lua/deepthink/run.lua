-- Starting a deep think: the `deepthink.run` argument object, the question for `ask`, and
-- the handler Neovim's code-action menu calls.
local compat = require('deepthink.compat')

local M = {}

M.MODES = { 'explain', 'review', 'ask', 'diff' }

-- What the mapping offers, titled as the server's code actions are.
M.CHOICES = {
  { title = 'Deep think: explain', mode = 'explain' },
  { title = 'Deep think: review', mode = 'review' },
  { title = 'Deep think: ask…', mode = 'ask' },
  { title = 'Deep think: review diff (this file)', mode = 'diff', scope = 'file' },
  { title = 'Deep think: review diff (workspace)', mode = 'diff', scope = 'workspace' },
}

--- Whole lines `first`..`last` (1-based, inclusive) as an LSP range in the client's encoding.
function M.lines_range(client, bufnr, first, last)
  if first > last then
    first, last = last, first
  end
  local text = vim.api.nvim_buf_get_lines(bufnr, last - 1, last, false)[1] or ''
  local character = vim.lsp.util.character_offset(bufnr, last - 1, #text, client.offset_encoding)
  return {
    start = { line = first - 1, character = 0 },
    ['end'] = { line = last - 1, character = character },
  }
end

local function send(client, bufnr, arguments)
  compat.execute(client, bufnr, 'deepthink.run', { arguments }, function(err)
    if err ~= nil then
      vim.notify('deepthink: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
  end)
end

--- Ask the user for the question (vim.ui.input, so dressing.nvim & co. show their own);
--- nothing runs when they cancel or give none.
local function with_question(arguments, go)
  if arguments.mode ~= 'ask' or (arguments.question and arguments.question ~= '') then
    return go(arguments)
  end
  vim.ui.input({ prompt = 'Deep think: ask… ' }, function(question)
    if question == nil or vim.trim(question) == '' then
      vim.notify('deepthink: no question, nothing asked', vim.log.levels.INFO)
      return
    end
    arguments.question = question
    go(arguments)
  end)
end

--- Run `mode` ('explain', 'review', 'ask', 'diff') in `bufnr`.
--- `opts`: `first`, `last` (lines, 1-based; explain/review/ask need them), `question`,
--- `scope` ('file' or 'workspace', for diff).
function M.run(client, bufnr, mode, opts)
  local arguments = { uri = vim.uri_from_bufnr(bufnr), question = opts.question }
  if mode == 'diff' then
    arguments.mode = 'review-diff'
    arguments.scope = opts.scope or 'file'
  else
    arguments.mode = mode
    arguments.range = M.lines_range(client, bufnr, opts.first, opts.last)
  end
  with_question(arguments, function(ready)
    send(client, bufnr, ready)
  end)
end

--- vim.lsp.commands['deepthink.run']: the code actions of the server land here, so that
--- "Deep think: ask…" picked from the code-action menu asks its question too.
function M.code_action_command(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if client == nil then
    return
  end
  local arguments = vim.deepcopy((command.arguments or {})[1] or {})
  with_question(arguments, function(ready)
    send(client, ctx.bufnr, ready)
  end)
end

return M

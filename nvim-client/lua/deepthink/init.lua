-- deepthink-lsp for Neovim 0.7+: require('deepthink').setup(opts). See :help deepthink.
local compat = require('deepthink.compat')
local config = require('deepthink.config')
local progress = require('deepthink.progress')
local quickfix = require('deepthink.quickfix')
local result = require('deepthink.result')
local run = require('deepthink.run')

local M = {}

local mapped = nil -- the visual-mode key set by the last setup()

--- The deepthink client attached to `bufnr`; nil, with a notification saying why, if none.
local function client_for(bufnr)
  local client = compat.clients(bufnr)[1]
  if client == nil then
    local why = config.configured and 'the server is not attached to this buffer'
      or "require('deepthink').setup() has not been called"
    vim.notify(('deepthink: %s (see :checkhealth deepthink)'):format(why), vim.log.levels.WARN)
  end
  return client
end

--- Deep think `mode` ('explain', 'review', 'ask', 'diff') on lines `first`..`last` of the
--- current buffer. `opts`: `first`, `last`, `question`, `scope` ('file'/'workspace', diff).
function M.run(mode, opts)
  opts = opts or {}
  if not vim.tbl_contains(run.MODES, mode) then
    vim.notify(
      ('deepthink: unknown mode %q (expected %s)'):format(mode, table.concat(run.MODES, ', ')),
      vim.log.levels.ERROR
    )
    return
  end
  if
    mode == 'diff'
    and opts.scope ~= nil
    and opts.scope ~= 'file'
    and opts.scope ~= 'workspace'
  then
    vim.notify(
      ('deepthink: diff takes file or workspace, not %q'):format(opts.scope),
      vim.log.levels.ERROR
    )
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if client == nil then
    return
  end
  local line = vim.api.nvim_win_get_cursor(0)[1]
  run.run(client, bufnr, mode, {
    first = opts.first or line,
    last = opts.last or opts.first or line,
    question = opts.question,
    scope = opts.scope,
  })
end

--- Offer the modes for lines `first`..`last` with vim.ui.select (telescope & co. show theirs).
function M.menu(first, last)
  vim.ui.select(run.CHOICES, {
    prompt = 'Deep think',
    format_item = function(choice)
      return choice.title
    end,
  }, function(choice)
    if choice ~= nil then
      M.run(choice.mode, { first = first, last = last, scope = choice.scope })
    end
  end)
end

--- Stop every running deep think of the servers attached to the current buffer (of all
--- servers when none is), and say how many stopped.
function M.cancel()
  local bufnr = vim.api.nvim_get_current_buf()
  local clients = compat.clients(bufnr)
  if #clients == 0 then
    clients = compat.clients()
  end
  if #clients == 0 then
    vim.notify('deepthink: no server is running, so no job to cancel', vim.log.levels.INFO)
    return
  end
  for _, client in ipairs(clients) do
    compat.execute(client, bufnr, 'deepthink.cancel', nil, function(err, count)
      if err ~= nil then
        vim.notify(
          'deepthink: cancel failed: ' .. (err.message or vim.inspect(err)),
          vim.log.levels.ERROR
        )
      elseif count == 0 then
        vim.notify('deepthink: no job was running', vim.log.levels.INFO)
      elseif type(count) == 'number' then
        vim.notify(
          ('deepthink: cancelled %d job%s'):format(count, count == 1 and '' or 's'),
          vim.log.levels.INFO
        )
      end
    end)
  end
end

--- Open the last result for the current buffer (the hover at the cursor as a fallback).
function M.show_result()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if client ~= nil then
    result.show(client, bufnr, config.options.result_window)
  end
end

--- Fill the quickfix list with the review findings and open it.
function M.quickfix()
  if quickfix.refresh({ open = true }) == 0 then
    vim.notify('deepthink: no review findings', vim.log.levels.INFO)
  end
end

--- One short line for your statusline: the running job's progress, '' when idle.
M.status = progress.status

local function set_mapping(key)
  if mapped ~= nil then
    pcall(vim.keymap.del, 'x', mapped)
    mapped = nil
  end
  if not key then
    return
  end
  -- Leaving visual mode first sets the '< and '> marks to the selection.
  vim.keymap.set(
    'x',
    key,
    [[<Esc><Cmd>lua require('deepthink').menu(vim.fn.line("'<"), vim.fn.line("'>"))<CR>]],
    {
      desc = 'Deep think: explain, review, ask or review diff',
    }
  )
  mapped = key
end

function M.setup(opts)
  local options = config.merge(opts)
  config.options = options
  config.configured = true
  require('deepthink.commands').create()
  set_mapping(options.mapping)
  vim.lsp.commands['deepthink.run'] = run.code_action_command
  require('deepthink.client').enable(options)
end

return M

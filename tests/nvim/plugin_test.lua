-- Headless Neovim (0.7 or 0.11) with the README's lazy.nvim spec for nvim-client/, driven as
-- a user would: mapping, commands, prompts, the code-action menu. One scenario per run,
-- named by $DEEPTHINK_TEST_SCENARIO (see tests/test_neovim_plugin.py). The outcome goes as
-- JSON to $DEEPTHINK_TEST_RESULT; a failed check exits with code 1.
--
-- Checkpoints hand over to the Python side, which checks what reached the scripted LLM
-- server: checkpoint(name) writes <name>.reached and waits for <name>.go.

local results = { notifications = {}, progress = {}, statuses = {}, prompts = {}, lines = {} }

local harness = dofile(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':h') .. '/harness.lua')
local env, wait_for = harness.env, harness.wait_for
local WAIT_MS = harness.WAIT_MS

local function checkpoint(name)
  local dir = env('DEEPTHINK_TEST_CHECKPOINTS')
  vim.fn.writefile({}, dir .. '/' .. name .. '.reached')
  wait_for('the test to go on after checkpoint ' .. name, function()
    return vim.fn.filereadable(dir .. '/' .. name .. '.go') == 1
  end)
end

local function finish(ok, problem)
  harness.finish(results, ok, problem)
end

local function notified(pattern)
  for _, note in ipairs(results.notifications) do
    if note.message:find(pattern) then
      return note
    end
  end
  return nil
end

local function ended_count()
  local count = 0
  for _, value in ipairs(results.progress) do
    if value.kind == 'end' then
      count = count + 1
    end
  end
  return count
end

-- Wait for the count-th progress end; an error the plugin notified ends the wait at once.
local function wait_for_end(count)
  wait_for('progress end number ' .. count, function()
    for _, note in ipairs(results.notifications) do
      if note.level == vim.log.levels.ERROR then
        error('deepthink notified an error: ' .. note.message)
      end
    end
    return ended_count() >= count
  end)
end

-- The user's view of things, recorded: notifications and prompts from the start.
local function record()
  vim.notify = function(message, level)
    table.insert(results.notifications, { message = message, level = level })
  end
  -- The user answers each prompt with the next of $DEEPTHINK_TEST_ANSWERS (one a line).
  local answers = vim.split(os.getenv('DEEPTHINK_TEST_ANSWERS') or '', '\n', { plain = true })
  vim.ui.input = function(opts, on_confirm)
    table.insert(results.prompts, opts.prompt)
    on_confirm(table.remove(answers, 1))
  end
end

-- What lazy.nvim does with the spec: the plugin folder on the runtimepath, its help tags
-- made, its plugin/ files sourced, then require(main).setup(opts).
local spec = nil

local function load_readme_spec()
  spec = dofile(env('DEEPTHINK_TEST_SPEC'))
  -- A scenario may start from other options, as a user editing the spec would.
  local changed = os.getenv('DEEPTHINK_TEST_OPTIONS')
  if changed ~= nil and changed ~= '' then
    spec.opts = vim.tbl_deep_extend('force', spec.opts, vim.fn.json_decode(changed))
  end
  local dir = vim.fn.expand(spec.dir)
  vim.opt.runtimepath:prepend(dir)
  vim.cmd('helptags ' .. vim.fn.fnameescape(dir .. '/doc'))
  for _, file in ipairs(vim.fn.glob(dir .. '/plugin/**/*.lua', false, true)) do
    vim.cmd('source ' .. vim.fn.fnameescape(file))
  end
  require(spec.main).setup(spec.opts)
end

local function deepthink_clients()
  local clients = vim.fn.has('nvim-0.10') == 1 and vim.lsp.get_clients()
    or vim.lsp.get_active_clients()
  return vim.tbl_filter(function(client)
    return client.name == 'deepthink'
  end, clients)
end

local function deepthink_client(buffer)
  for _, client in ipairs(deepthink_clients()) do
    if vim.lsp.buf_is_attached(buffer, client.id) then
      return client
    end
  end
  return nil
end

local function open_file()
  vim.cmd('edit ' .. vim.fn.fnameescape(env('DEEPTHINK_TEST_FILE')))
  local buffer = vim.api.nvim_get_current_buf()
  wait_for('the server to attach and initialize', function()
    local client = deepthink_client(buffer)
    return client ~= nil and client.initialized
  end)
  return buffer
end

local function line_of(buffer, text)
  for number, line in ipairs(vim.api.nvim_buf_get_lines(buffer, 0, -1, false)) do
    if line == text then
      return number
    end
  end
  error('no line ' .. vim.inspect(text) .. ' in the buffer')
end

-- The lines a deep think inserted right above `code`: the comment block ending there.
local function comment_above(buffer, code, marker)
  local lines = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  local last = line_of(buffer, code) - 1
  local first = last
  while first >= 1 and vim.startswith(lines[first], marker) do
    first = first - 1
  end
  return table.concat(vim.list_slice(lines, first + 1, last), '\n')
end

local function wait_for_comment(buffer, code, text)
  wait_for('a comment holding ' .. vim.inspect(text) .. ' above ' .. vim.inspect(code), function()
    return comment_above(buffer, code, '#'):find(text, 1, true) ~= nil
  end)
end

local function hover_text(buffer, line)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buffer) },
    position = { line = line - 1, character = 0 },
  }
  local answers = vim.lsp.buf_request_sync(buffer, 'textDocument/hover', params, WAIT_MS) or {}
  for _, answer in pairs(answers) do
    if answer.result and answer.result.contents then
      return table.concat(
        vim.lsp.util.convert_input_to_markdown_lines(answer.result.contents),
        '\n'
      )
    end
  end
  return ''
end

local function floating_text()
  for _, window in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(window).relative ~= '' then
      local buffer = vim.api.nvim_win_get_buf(window)
      return table.concat(vim.api.nvim_buf_get_lines(buffer, 0, -1, false), '\n')
    end
  end
  return nil
end

-- Select lines first..last in visual line mode and open the code-action menu on them.
local function code_action_menu(first, last)
  if vim.fn.has('nvim-0.11') == 1 then
    vim.api.nvim_win_set_cursor(0, { first, 0 })
    vim.lsp.buf.code_action({
      context = { only = { 'deepthink' } },
      range = { start = { first, 0 }, ['end'] = { last, 0 } },
    })
  else
    vim.lsp.buf.range_code_action({ only = { 'deepthink' } }, { first, 0 }, { last, 0 })
  end
end

local function pick(title)
  vim.ui.select = function(items, opts, on_choice)
    for index, item in ipairs(items) do
      if vim.startswith(opts.format_item(item), title) then
        return on_choice(item, index)
      end
    end
    error('no ' .. vim.inspect(title) .. ' among the choices')
  end
end

local DIVIDE, AREA = 'def divide(a, b):', 'def area(r):'
local scenarios = {}

-- explain through the mapping, then hover, :DeepThinkResult, and explain through :DeepThink.
function scenarios.explain()
  local buffer = open_file()
  pick('Deep think: explain')
  local first = line_of(buffer, DIVIDE)
  local leader = vim.g.mapleader or '\\'
  local keys = ('%dGV%dG%sd'):format(first, first + 1, leader)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'x', false)
  wait_for_end(1)
  local synthesis = env('DEEPTHINK_TEST_SYNTHESIS')
  wait_for_comment(buffer, DIVIDE, synthesis)
  assert(
    vim.api.nvim_buf_get_lines(buffer, line_of(buffer, DIVIDE), line_of(buffer, DIVIDE) + 1, false)[1]
      == '    return a / b',
    'the code below the comment changed'
  )

  local hover = hover_text(buffer, line_of(buffer, DIVIDE))
  results.hover = hover
  assert(
    hover:find(synthesis, 1, true),
    'the hover over the code lost the result: ' .. vim.inspect(hover)
  )

  vim.api.nvim_win_set_cursor(0, { line_of(buffer, DIVIDE), 0 })
  vim.cmd('DeepThinkResult')
  wait_for('the result window', function()
    return floating_text() ~= nil
  end)
  results.result_window = floating_text()
  assert(
    results.result_window:find(synthesis, 1, true),
    'the result window: ' .. results.result_window
  )

  local area = line_of(buffer, AREA)
  vim.cmd(('%d,%dDeepThink explain'):format(area, area + 1))
  wait_for_end(2)
  wait_for_comment(buffer, AREA, synthesis)
  results.lines = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
end

-- ask through :DeepThink and through the code-action menu: both prompt for the question.
function scenarios.ask()
  local buffer = open_file()
  local first = line_of(buffer, DIVIDE)
  vim.cmd(('%d,%dDeepThink ask'):format(first, first + 1))
  wait_for_end(1)
  checkpoint('asked-by-command')
  pick('Deep think: ask')
  local area = line_of(buffer, AREA)
  code_action_menu(area, area + 1)
  wait_for_end(2)
  checkpoint('asked-by-code-action')
  -- Dismissed (no more answers): nothing runs. The explain after it is the only job left.
  vim.cmd(('%d,%dDeepThink ask'):format(first, first + 1))
  vim.cmd(('%d,%dDeepThink explain'):format(first, first + 1))
  wait_for_end(3)
  results.begins = #vim.tbl_filter(function(value)
    return value.kind == 'begin'
  end, results.progress)
end

-- :DeepThinkCancel while the agents wait for the LLM.
function scenarios.cancel()
  local buffer = open_file()
  local before = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  local first = line_of(buffer, DIVIDE)
  vim.cmd(('%d,%dDeepThink explain'):format(first, first + 1))
  wait_for('the progress to begin', function()
    return #results.progress > 0
  end)
  checkpoint('running')
  vim.cmd('DeepThinkCancel')
  wait_for('the cancel to be confirmed', function()
    return notified('^deepthink: cancelled') ~= nil
  end)
  wait_for_end(1)
  checkpoint('cancelled')
  results.lines = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  assert(vim.deep_equal(results.lines, before), 'a cancelled job changed the buffer')
end

-- review: findings as diagnostics, then :DeepThinkQuickfix.
function scenarios.review()
  local buffer = open_file()
  local first = line_of(buffer, DIVIDE)
  vim.cmd(('%d,%dDeepThink review'):format(first, first + 1))
  wait_for_end(1)
  wait_for('the findings as diagnostics', function()
    return #vim.diagnostic.get(buffer) > 0
  end)
  results.diagnostics = vim.tbl_map(function(d)
    return { lnum = d.lnum, message = d.message, source = d.source, severity = d.severity }
  end, vim.diagnostic.get(buffer))
  vim.cmd('DeepThinkQuickfix')
  results.quickfix = vim.tbl_map(function(item)
    return { lnum = item.lnum, text = item.text, bufnr = item.bufnr }
  end, vim.fn.getqflist())
  results.quickfix_title = vim.fn.getqflist({ title = 1 }).title
  results.quickfix_open = vim.fn.getqflist({ winid = 1 }).winid ~= 0
  results.return_line = line_of(buffer, '    return a / b')
  results.buffer = buffer
end

-- The user's config sourced again with quickfix = true: findings go to the quickfix list as
-- they are published, without opening it.
function scenarios.review_to_quickfix()
  local buffer = open_file()
  require('deepthink').setup(vim.tbl_extend('force', spec.opts, { quickfix = true }))
  local first = line_of(buffer, DIVIDE)
  vim.cmd(('%d,%dDeepThink review'):format(first, first + 1))
  wait_for_end(1)
  wait_for('the findings in the quickfix list', function()
    return #vim.fn.getqflist() > 0
  end)
  results.quickfix = vim.tbl_map(function(item)
    return { lnum = item.lnum, text = item.text, bufnr = item.bufnr }
  end, vim.fn.getqflist())
  results.quickfix_title = vim.fn.getqflist({ title = 1 }).title
  results.quickfix_open = vim.fn.getqflist({ winid = 1 }).winid ~= 0
  results.return_line = line_of(buffer, '    return a / b')
  results.servers = #deepthink_clients()
end

-- The settings reach the server from the start (0.7 takes them from init_options only).
function scenarios.hover_output()
  local buffer = open_file()
  local before = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  local first = line_of(buffer, DIVIDE)
  vim.cmd(('%d,%dDeepThink explain'):format(first, first + 1))
  wait_for_end(1)
  local synthesis = env('DEEPTHINK_TEST_SYNTHESIS')
  local hover = hover_text(buffer, first)
  assert(hover:find(synthesis, 1, true), 'no result on hover: ' .. vim.inspect(hover))
  assert(
    vim.deep_equal(vim.api.nvim_buf_get_lines(buffer, 0, -1, false), before),
    'a comment was inserted'
  )
end

-- Started with output = 'hover' and result_window = 'split': the result in a split.
function scenarios.hover_output_in_split()
  scenarios.hover_output()
  vim.api.nvim_win_set_cursor(0, { line_of(0, DIVIDE), 0 })
  vim.cmd('DeepThinkResult')
  wait_for('the result split', function()
    return vim.fn.bufwinid('deepthink://result') ~= -1
  end)
  local window = vim.fn.bufwinid('deepthink://result')
  local buffer = vim.api.nvim_win_get_buf(window)
  results.result_window = table.concat(vim.api.nvim_buf_get_lines(buffer, 0, -1, false), '\n')
  results.result_filetype = vim.bo[buffer].filetype
  results.result_floating = vim.api.nvim_win_get_config(window).relative ~= ''
end

-- setup() again with other settings: the running server takes them.
function scenarios.settings_change()
  local buffer = open_file()
  require('deepthink').setup(vim.tbl_extend('force', spec.opts, { output = 'hover' }))
  scenarios.hover_output()
  results.servers = #deepthink_clients()
end

-- :DeepThink diff with no range: the buffer's uncommitted change reviewed, findings as
-- diagnostics, the summary in :DeepThinkResult, nothing inserted.
function scenarios.diff()
  local buffer = open_file()
  local line = line_of(buffer, '    return a / b')
  vim.api.nvim_buf_set_lines(buffer, line - 1, line, false, { '    return a / b if b else 0.0' })
  local before = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  vim.cmd('DeepThink diff')
  wait_for_end(1)
  wait_for('the findings as diagnostics', function()
    return #vim.diagnostic.get(buffer) > 0
  end)
  results.diagnostics = vim.tbl_map(function(d)
    return { lnum = d.lnum, message = d.message, source = d.source }
  end, vim.diagnostic.get(buffer))
  results.lines = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  assert(vim.deep_equal(results.lines, before), 'review diff changed the buffer')
  vim.cmd('DeepThinkResult')
  wait_for('the result window', function()
    return floating_text() ~= nil
  end)
  results.result_window = floating_text()
end

-- The mapping's "review diff (workspace)" after the change is saved.
function scenarios.diff_workspace()
  local buffer = open_file()
  local line = line_of(buffer, '    return a / b')
  vim.api.nvim_buf_set_lines(buffer, line - 1, line, false, { '    return a / b if b else 0.0' })
  vim.cmd('write')
  local before = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  pick('Deep think: review diff (workspace)')
  local keys = ('%dGV%dG%sd'):format(line, line, vim.g.mapleader or '\\')
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'x', false)
  wait_for_end(1)
  wait_for('the findings as diagnostics', function()
    return #vim.diagnostic.get(buffer) > 0
  end)
  results.diagnostics = vim.tbl_map(function(d)
    return { lnum = d.lnum, message = d.message, source = d.source }
  end, vim.diagnostic.get(buffer))
  results.lines = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  assert(vim.deep_equal(results.lines, before), 'review diff changed the buffer')
end

-- No deepthink-lsp on PATH: notifications, no error, commands that explain themselves.
function scenarios.missing_server()
  vim.cmd('edit ' .. vim.fn.fnameescape(env('DEEPTHINK_TEST_FILE')))
  vim.cmd('4,5DeepThink explain')
  vim.cmd('DeepThinkResult')
  vim.cmd('checkhealth deepthink')
  results.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

-- :checkhealth deepthink, then :help finds the plugin's help.
function scenarios.checkhealth()
  open_file()
  vim.cmd('checkhealth deepthink')
  results.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  results.help = {}
  for _, topic in ipairs({ 'deepthink', ':DeepThinkCancel' }) do
    vim.cmd('help ' .. topic)
    table.insert(results.help, vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ':t'))
    vim.cmd('helpclose')
  end
end

local ok, problem = pcall(function()
  record()
  load_readme_spec()
  harness.record_progress(results, function()
    table.insert(results.statuses, require('deepthink').status())
  end)
  local scenario = scenarios[env('DEEPTHINK_TEST_SCENARIO')]
  assert(scenario, 'no scenario ' .. env('DEEPTHINK_TEST_SCENARIO'))
  scenario()
end)
finish(ok, problem)

-- Headless Neovim (0.7+) drives deepthink-lsp the way a user does: select a range, pick
-- "Deep think: explain" from the code actions, wait for the comment to be inserted.
-- Inputs come from the environment (see tests/test_neovim.py); the outcome is written as
-- JSON to $DEEPTHINK_TEST_RESULT, and Neovim exits with code 1 if anything went wrong.

local results = { progress = {}, messages = {}, lines = {} }

local function env(name)
  local value = os.getenv(name)
  assert(value and value ~= '', name .. ' is not set')
  return value
end

local function wait_for(what, condition)
  if not vim.wait(30000, condition, 20) then
    error('timed out waiting for ' .. what)
  end
end

local function finish(ok, problem)
  results.ok = ok
  results.error = problem and tostring(problem) or nil
  local file = assert(io.open(env('DEEPTHINK_TEST_RESULT'), 'w'))
  file:write(vim.fn.json_encode(results))
  file:close()
  vim.cmd(ok and 'qall!' or 'cquit 1')
end

local function check_progress()
  local kinds = vim.tbl_map(function(value) return value.kind end, results.progress)
  assert(kinds[1] == 'begin', 'progress must begin with "begin", saw ' .. table.concat(kinds, ', '))
  assert(kinds[#kinds] == 'end', 'progress must end with "end", saw ' .. table.concat(kinds, ', '))
  assert(#kinds >= 3, 'expected reports between begin and end, saw ' .. table.concat(kinds, ', '))
  for index = 2, #kinds - 1 do
    assert(kinds[index] == 'report', 'unexpected ' .. kinds[index] .. ' at position ' .. index)
  end
  assert(results.progress[1].title == env('DEEPTHINK_TEST_TITLE'), 'title: ' .. tostring(results.progress[1].title))
end

local ok, problem = pcall(function()
  -- Record what the server reports, then let Neovim's own handlers do their usual work.
  local show_progress = vim.lsp.handlers['$/progress']
  vim.lsp.handlers['$/progress'] = function(err, result, ctx, config)
    local value = result.value or {}
    table.insert(results.progress, { kind = value.kind, title = value.title, message = value.message })
    return show_progress(err, result, ctx, config)
  end
  vim.lsp.handlers['window/showMessage'] = function(_, result)
    table.insert(results.messages, result.message)
  end
  -- The code-action menu is vim.ui.select; a user would pick this entry.
  vim.ui.select = function(items, opts, on_choice)
    for index, item in ipairs(items) do
      if opts.format_item(item) == 'Deep think: explain' then
        return on_choice(item, index)
      end
    end
    error('no "Deep think: explain" among the code actions')
  end

  vim.cmd('edit ' .. vim.fn.fnameescape(env('DEEPTHINK_TEST_FILE')))
  local buffer = vim.api.nvim_get_current_buf()

  -- The setup from the README, with the command and root taken from the test.
  local client_id = vim.lsp.start_client({
    name = 'deepthink',
    cmd = vim.fn.json_decode(env('DEEPTHINK_TEST_COMMAND')),
    cmd_cwd = env('DEEPTHINK_TEST_CWD'),
    root_dir = vim.fn.fnamemodify(env('DEEPTHINK_TEST_FILE'), ':p:h'),
    init_options = { orchestrator = { parallel_agents = tonumber(env('DEEPTHINK_TEST_AGENTS')) } },
    settings = { deepthink = { output = 'comment' } },
    on_exit = function(code) results.server_exit = code end,
  })
  assert(client_id, 'the server did not start')
  vim.lsp.buf_attach_client(buffer, client_id)
  wait_for('the server to initialize', function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized
  end)

  -- Lines 4-5 (def divide and its body), as selected in visual line mode.
  vim.lsp.buf.range_code_action({ only = { 'deepthink' } }, { 4, 0 }, { 5, 15 })
  wait_for('the progress to end', function()
    local last = results.progress[#results.progress]
    return last ~= nil and last.kind == 'end'
  end)
  local expected = vim.fn.readfile(env('DEEPTHINK_TEST_EXPECTED'))
  wait_for('the comment to be inserted', function()
    return vim.api.nvim_buf_line_count(buffer) == #expected
  end)
  results.lines = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  assert(vim.deep_equal(results.lines, expected), 'the buffer is not what was expected')
  check_progress()

  vim.lsp.stop_client(client_id)
  wait_for('the server to exit', function() return results.server_exit ~= nil end)
  assert(results.server_exit == 0, 'the server exited with ' .. tostring(results.server_exit))
end)

finish(ok, problem)

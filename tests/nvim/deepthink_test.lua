-- Headless Neovim 0.11 with the README's plain-LSP setup (no plugin): select the lines of
-- `divide`, press <leader>d, pick "Deep think: explain" from the code-action menu, wait for
-- the comment. Inputs come from the environment (see tests/test_neovim.py); the outcome is
-- written as JSON to $DEEPTHINK_TEST_RESULT, and Neovim exits with code 1 on a failure.

local results = { progress = {}, lines = {} }

local harness = dofile(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':h') .. '/harness.lua')
local env, wait_for = harness.env, harness.wait_for

local function finish(ok, problem)
  harness.finish(results, ok, problem)
end

local ok, problem = pcall(function()
  harness.record_progress(results)
  -- The code-action menu is vim.ui.select; a user would pick this entry.
  vim.ui.select = function(items, opts, on_choice)
    for index, item in ipairs(items) do
      if opts.format_item(item) == 'Deep think: explain' then
        return on_choice(item, index)
      end
    end
    error('no "Deep think: explain" among the code actions')
  end

  dofile(env('DEEPTHINK_TEST_SETUP'))
  vim.cmd('edit ' .. vim.fn.fnameescape(env('DEEPTHINK_TEST_FILE')))
  local buffer = vim.api.nvim_get_current_buf()
  wait_for('the server to attach and initialize', function()
    local client = vim.lsp.get_clients({ bufnr = buffer, name = 'deepthink' })[1]
    return client ~= nil and client.initialized
  end)

  local keys = vim.api.nvim_replace_termcodes('4GV5G<leader>d', true, false, true)
  vim.api.nvim_feedkeys(keys, 'x', false)
  wait_for('the progress to end', function()
    local last = results.progress[#results.progress]
    return last ~= nil and last.kind == 'end'
  end)
  wait_for('the comment to be inserted', function()
    return vim.api.nvim_buf_line_count(buffer) > tonumber(env('DEEPTHINK_TEST_LINES'))
  end)
  results.lines = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  vim.cmd('DeepThinkCancel') -- nothing runs any more; the command must still work
end)

finish(ok, problem)

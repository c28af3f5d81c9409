-- What the headless Neovim test scripts share: their inputs from the environment, waits
-- that end as soon as their condition holds, and the outcome written as JSON to
-- $DEEPTHINK_TEST_RESULT (Neovim exits with code 1 on a failure).

local M = {}

M.WAIT_MS = 60000 -- a safety net only: every wait ends as soon as its condition holds

function M.env(name)
  local value = os.getenv(name)
  assert(value and value ~= '', name .. ' is not set')
  return value
end

function M.wait_for(what, condition)
  if not vim.wait(M.WAIT_MS, condition, 20) then
    error('timed out waiting for ' .. what, 2)
  end
end

-- $/progress as fidget.nvim sees it: a global handler installed after the plugin's setup
-- still gets every message. Each goes to `results.progress`, then `also` (if any) runs.
function M.record_progress(results, also)
  local show_progress = vim.lsp.handlers['$/progress']
  vim.lsp.handlers['$/progress'] = function(err, result, ctx, config)
    local value = result.value or {}
    table.insert(
      results.progress,
      { kind = value.kind, title = value.title, message = value.message }
    )
    if also then
      also()
    end
    return show_progress(err, result, ctx, config)
  end
end

function M.finish(results, ok, problem)
  results.ok = ok
  results.error = problem and tostring(problem) or nil
  results.errmsg = vim.v.errmsg
  results.messages = vim.fn.execute('messages')
  vim.fn.writefile({ vim.fn.json_encode(results) }, M.env('DEEPTHINK_TEST_RESULT'))
  vim.cmd(ok and 'qall!' or 'cquit 1')
end

return M

-- Review findings (diagnostics whose source is "deepthink") as a quickfix list.
local M = {}

local TITLE = 'Deep think findings'
local SOURCE = 'deepthink'
local list_id = nil -- the quickfix list this plugin made, while it is in the stack

function M.findings()
  local found = {}
  for _, diagnostic in ipairs(vim.diagnostic.get(nil)) do
    if diagnostic.source == SOURCE then
      table.insert(found, diagnostic)
    end
  end
  return found
end

local function ours_exists()
  return list_id ~= nil and vim.fn.getqflist({ id = list_id }).id == list_id
end

--- Put the findings into our quickfix list (replacing its items, or starting a new list
--- when there are findings to show). `open`: open the quickfix window too. Returns the
--- number of findings.
function M.refresh(opts)
  local items = vim.diagnostic.toqflist(M.findings())
  if ours_exists() then
    vim.fn.setqflist({}, 'r', { id = list_id, items = items, title = TITLE })
  elseif #items > 0 then
    vim.fn.setqflist({}, ' ', { items = items, title = TITLE })
    list_id = vim.fn.getqflist({ id = 0 }).id
  end
  if opts.open and #items > 0 then
    vim.cmd('botright copen')
  end
  return #items
end

return M

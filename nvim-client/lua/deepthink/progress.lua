-- The server's $/progress for our client, kept as a one-line status: echoed while a job runs
-- (history untouched), its end notified, and there for statuslines through status().
local config = require('deepthink.config')

local M = {}

local running = {} -- "client:token" -> { title, message, seq }
local seq = 0

local function latest()
  local newest, count = nil, 0
  for _, job in pairs(running) do
    count = count + 1
    if newest == nil or job.seq > newest.seq then
      newest = job
    end
  end
  return newest, count
end

--- One short line for a statusline: the newest job's progress; '' when nothing runs.
function M.status()
  local job, count = latest()
  if job == nil then
    return ''
  end
  local prefix = count > 1 and ('Deep think (%d): '):format(count) or 'Deep think: '
  local text = job.message
  if text == nil or text == '' then
    text = job.title or 'starting'
  end
  return prefix .. text
end

local function echo()
  -- Typing a command line must not be disturbed, and the line must not cause a
  -- hit-enter prompt.
  if vim.fn.mode() == 'c' then
    return
  end
  local text = M.status()
  local width = vim.v.echospace
  if width ~= nil and width > 0 and vim.fn.strdisplaywidth(text) > width then
    text = vim.fn.strcharpart(text, 0, width - 1) .. '…'
  end
  vim.api.nvim_echo({ { text } }, false, {})
end

--- A $/progress message for client `client_id`.
function M.update(client_id, params)
  local value = params.value
  if type(value) ~= 'table' then
    return
  end
  local key = client_id .. ':' .. tostring(params.token)
  if value.kind == 'begin' then
    seq = seq + 1
    running[key] = { title = value.title, message = value.message, seq = seq }
  elseif value.kind == 'report' and running[key] ~= nil then
    running[key].message = value.message or running[key].message
  elseif value.kind == 'end' then
    local job = running[key]
    running[key] = nil
    if config.options.progress and job ~= nil then
      local message = value.message or 'finished'
      vim.notify(('Deep think: %s'):format(message), vim.log.levels.INFO)
    end
  else
    return
  end
  if config.options.progress and value.kind ~= 'end' then
    echo()
  end
  vim.cmd('redrawstatus')
end

--- A server that exits ends its jobs' progress without a word: forget them.
function M.forget(client_id)
  local prefix = client_id .. ':'
  for key in pairs(running) do
    if vim.startswith(key, prefix) then
      running[key] = nil
    end
  end
  vim.cmd('redrawstatus')
end

return M

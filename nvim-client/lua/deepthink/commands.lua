-- The user commands; plugin/deepthink.lua and setup() both create them.
local M = {}

local function complete(arg_lead, line)
  local words = vim.split(line, '%s+', { trimempty = true })
  -- The word being completed is the second when the line ends in a space after one word.
  local position = #words + (line:sub(-1) == ' ' and 1 or 0)
  local choices = position <= 2 and require('deepthink.run').MODES
    or (words[2] == 'diff' and { 'file', 'workspace' } or {})
  return vim.tbl_filter(function(choice)
    return vim.startswith(choice, arg_lead)
  end, choices)
end

local function deep_think(args)
  local deepthink = require('deepthink')
  local mode, rest = args.fargs[1], { unpack(args.fargs, 2) }
  local opts = {}
  if args.range > 0 then
    opts.first, opts.last = args.line1, args.line2
  end
  if mode == 'diff' then
    opts.scope = rest[1]
  elseif mode == 'ask' and #rest > 0 then
    opts.question = table.concat(rest, ' ')
  end
  deepthink.run(mode, opts)
end

function M.create()
  local command = vim.api.nvim_create_user_command
  command('DeepThink', deep_think, {
    nargs = '+',
    range = true,
    complete = complete,
    desc = 'Deep think on the lines: explain | review | ask [question] | diff [file|workspace]',
  })
  command('DeepThinkCancel', function()
    require('deepthink').cancel()
  end, { desc = 'Stop the running deep thinks' })
  command('DeepThinkResult', function()
    require('deepthink').show_result()
  end, { desc = 'Open the last deep-think result' })
  command('DeepThinkQuickfix', function()
    require('deepthink').quickfix()
  end, { desc = 'Review findings to the quickfix list' })
end

return M

-- The plugin's options: defaults, the user's overrides, and what reaches the server.
local M = {}

M.defaults = {
  -- The server command; the API key reaches it only through Neovim's environment.
  cmd = { 'deepthink-lsp' },
  -- Filetypes to attach to; nil: every buffer that holds a file.
  filetypes = nil,
  -- The workspace root is the nearest directory holding one of these (else the cwd, when
  -- the file is under it, else the file's directory).
  root_markers = { '.deepthink.yaml', '.git' },
  -- Any key of the YAML config (provider, orchestrator, agent, council, context).
  settings = {},
  -- Where results go: 'comment' (inserted above the code, and on hover) or 'hover'.
  output = 'comment',
  -- Visual-mode key that offers explain / review / ask / diff for the selection; false: none.
  mapping = '<leader>d',
  -- Show progress as a one-line echo and the end as a notification; false: leave it to
  -- fidget.nvim and the like (they get the standard $/progress either way).
  progress = true,
  -- How :DeepThinkResult opens the result: 'float', 'split' or 'vsplit'.
  result_window = 'float',
  -- Keep review findings in the quickfix list as they are published (:DeepThinkQuickfix
  -- fills it on request either way).
  quickfix = false,
}

M.options = vim.deepcopy(M.defaults)
M.configured = false -- set by setup()

local expected = {
  cmd = 'a list of strings',
  filetypes = 'nil or a list of strings',
  root_markers = 'a list of strings',
  settings = 'a table of YAML config keys',
  output = "'comment' or 'hover'",
  mapping = 'a key sequence or false',
  progress = 'true or false',
  result_window = "'float', 'split' or 'vsplit'",
  quickfix = 'true or false',
}

local function is_string_list(value)
  if type(value) ~= 'table' or #value == 0 then
    return false
  end
  for _, item in ipairs(value) do
    if type(item) ~= 'string' then
      return false
    end
  end
  return true
end

local valid = {
  cmd = is_string_list,
  filetypes = function(v)
    return v == nil or is_string_list(v)
  end,
  root_markers = is_string_list,
  settings = function(v)
    return type(v) == 'table'
  end,
  output = function(v)
    return v == 'comment' or v == 'hover'
  end,
  mapping = function(v)
    return v == false or (type(v) == 'string' and v ~= '')
  end,
  progress = function(v)
    return type(v) == 'boolean'
  end,
  result_window = function(v)
    return v == 'float' or v == 'split' or v == 'vsplit'
  end,
  quickfix = function(v)
    return type(v) == 'boolean'
  end,
}

--- The defaults with `user` over them; an error names the option and what it takes.
function M.merge(user)
  user = user or {}
  if type(user) ~= 'table' then
    error('deepthink.setup: expected a table of options, got ' .. vim.inspect(user), 0)
  end
  for key, value in pairs(user) do
    if valid[key] == nil then
      local known = vim.tbl_keys(valid)
      table.sort(known)
      error(
        ('deepthink.setup: unknown option %q (known: %s)'):format(key, table.concat(known, ', ')),
        0
      )
    end
    if not valid[key](value) then
      error(
        ('deepthink.setup: %s: expected %s, got %s'):format(key, expected[key], vim.inspect(value)),
        0
      )
    end
  end
  local options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), user)
  -- Lists replace the defaults rather than merging into them by index.
  for _, key in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if user[key] ~= nil then
      options[key] = vim.deepcopy(user[key])
    end
  end
  return options
end

--- The `deepthink` settings object the server reads, from initializationOptions and from
--- workspace/configuration alike.
function M.server_settings(options)
  return vim.tbl_deep_extend('force', vim.deepcopy(options.settings), { output = options.output })
end

return M

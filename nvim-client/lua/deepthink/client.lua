-- Starting deepthink-lsp and attaching it to buffers, the way each Neovim version wants:
-- vim.lsp.config + vim.lsp.enable on 0.11+, vim.lsp.start on 0.8-0.10, start_client on 0.7.
local compat = require('deepthink.compat')
local progress = require('deepthink.progress')
local quickfix = require('deepthink.quickfix')

local M = {}

local uv = vim.uv or vim.loop -- vim.uv from 0.10
local group = vim.api.nvim_create_augroup('deepthink_attach', { clear = true })
local clients_by_root = {} -- 0.7 only: the client started for each root

local function has_marker(dir, markers)
  for _, marker in ipairs(markers) do
    if uv.fs_stat(dir .. '/' .. marker) then
      return true
    end
  end
  return false
end

--- The buffer's workspace root: the nearest directory with a marker; else the cwd when the
--- file is under it, else the file's own directory (vim.fs is not there on 0.7).
function M.root_dir(bufnr, markers)
  local file = vim.api.nvim_buf_get_name(bufnr)
  local cwd = vim.fn.getcwd()
  if file == '' then
    return cwd
  end
  local start = vim.fn.fnamemodify(file, ':p:h')
  local dir = start
  while true do
    if has_marker(dir, markers) then
      return dir
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  if start == cwd or vim.startswith(start, cwd .. '/') then
    return cwd
  end
  return start
end

local function wants(bufnr, options)
  if vim.bo[bufnr].buftype ~= '' or vim.api.nvim_buf_get_name(bufnr) == '' then
    return false
  end
  return options.filetypes == nil or vim.tbl_contains(options.filetypes, vim.bo[bufnr].filetype)
end

-- Our client's handlers wrap whatever the global handler is when a message arrives, so
-- that fidget.nvim and the like, which replace the global ones, keep working. Options are
-- read then too: a later setup() applies to running servers.
local function handlers()
  return {
    ['$/progress'] = function(err, result, ctx, config)
      if result ~= nil then
        progress.update(ctx.client_id, result)
      end
      return vim.lsp.handlers['$/progress'](err, result, ctx, config)
    end,
    ['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
      local handled = vim.lsp.handlers['textDocument/publishDiagnostics'](err, result, ctx, config)
      if require('deepthink.config').options.quickfix then
        quickfix.refresh({ open = false })
      end
      return handled
    end,
  }
end

local function client_config(options)
  local settings = require('deepthink.config').server_settings(options)
  return {
    name = compat.name,
    cmd = options.cmd,
    -- Neovim 0.7 answers no workspace/configuration: the settings travel here too.
    init_options = settings,
    settings = { deepthink = settings },
    handlers = handlers(),
    on_exit = function(_, _, client_id)
      -- Called from the event loop: redrawing must wait for the main loop.
      vim.schedule(function()
        progress.forget(client_id)
      end)
    end,
  }
end

local function start_0_7(bufnr, options)
  local root = M.root_dir(bufnr, options.root_markers)
  local id = clients_by_root[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    local config = client_config(options)
    config.root_dir = root
    config.workspace_folders = { { uri = vim.uri_from_fname(root), name = root } }
    id = vim.lsp.start_client(config)
    if id == nil then
      return
    end
    clients_by_root[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
end

local function start_0_8(bufnr, options)
  local config = client_config(options)
  config.root_dir = M.root_dir(bufnr, options.root_markers)
  vim.lsp.start(config, { bufnr = bufnr })
end

local function attach(bufnr, options)
  if not wants(bufnr, options) then
    return
  end
  if compat.has('0.8') then
    start_0_8(bufnr, options)
  else
    start_0_7(bufnr, options)
  end
end

--- Say once, plainly, that the server cannot be started; true when it can.
local function executable(options)
  if vim.fn.executable(options.cmd[1]) == 1 then
    return true
  end
  vim.notify(
    (
      "deepthink: cannot start the server: '%s' is not an executable on PATH. Install it "
      .. "(pip install deepthink-lsp) or set `cmd` in require('deepthink').setup(); "
      .. 'see :checkhealth deepthink'
    ):format(options.cmd[1]),
    vim.log.levels.ERROR
  )
  return false
end

--- Servers already running take the new settings: pushed with didChangeConfiguration
--- (0.7 answers no workspace/configuration), and answered from there when the server asks.
local function update_running(options)
  local settings = { deepthink = require('deepthink.config').server_settings(options) }
  for _, client in ipairs(compat.clients()) do
    client.config.settings = settings
    client.settings = settings -- what 0.11 answers workspace/configuration from
    compat.notify(client, 'workspace/didChangeConfiguration', { settings = settings })
  end
end

--- Arrange for the server to start with every buffer it applies to, open ones included.
function M.enable(options)
  vim.api.nvim_clear_autocmds({ group = group })
  update_running(options)
  if not executable(options) then
    return false
  end
  if compat.has('0.11') then
    local config = client_config(options)
    config.filetypes = options.filetypes
    config.root_dir = function(bufnr, on_dir)
      on_dir(M.root_dir(bufnr, options.root_markers))
    end
    vim.lsp.config(compat.name, config)
    vim.lsp.enable(compat.name) -- also attaches to the buffers already open
    return true
  end
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    callback = function(args)
      attach(args.buf, options)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      attach(bufnr, options)
    end
  end
  return true
end

return M

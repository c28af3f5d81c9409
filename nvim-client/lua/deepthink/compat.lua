-- The few LSP calls whose form changed between Neovim 0.7 and 0.11, in one place.
local M = {}

M.name = 'deepthink'

function M.has(version)
  return vim.fn.has('nvim-' .. version) == 1
end

--- The deepthink clients, attached to `bufnr` when given. 0.7's get_active_clients takes
--- no filter, and 0.10 renamed it, so filter here.
function M.clients(bufnr)
  local all = M.has('0.10') and vim.lsp.get_clients() or vim.lsp.get_active_clients()
  local found = {}
  for _, client in ipairs(all) do
    if client.name == M.name and (bufnr == nil or vim.lsp.buf_is_attached(bufnr, client.id)) then
      table.insert(found, client)
    end
  end
  return found
end

--- Send a request; 0.11 made request a method (the function form is deprecated there).
function M.request(client, method, params, handler, bufnr)
  if M.has('0.11') then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if M.has('0.11') then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- workspace/executeCommand; `on_reply(err, result)`.
function M.execute(client, bufnr, command, arguments, on_reply)
  local params = { command = command, arguments = arguments }
  return M.request(client, 'workspace/executeCommand', params, function(err, result)
    on_reply(err, result)
  end, bufnr)
end

function M.split_lines(text)
  return vim.split(text, '\n', { plain = true })
end

return M

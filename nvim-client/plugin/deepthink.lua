-- Commands exist as soon as the plugin is on the runtimepath; the server starts with
-- require('deepthink').setup().
if vim.g.loaded_deepthink then
  return
end
vim.g.loaded_deepthink = true
require('deepthink.commands').create()

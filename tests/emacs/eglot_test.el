;;; eglot_test.el --- Emacs in batch mode with the README's eglot setup drives deepthink-lsp  -*- lexical-binding: t -*-

;; Lists the code actions on lines 4-5 of $DEEPTHINK_TEST_FILE, picks $DEEPTHINK_TEST_ACTION
;; through eglot's own menu, and waits for the comment. Checkpoint "returned" (see
;; tests/editors.py) is reached once the command has answered; the scripted LLM holds
;; the agents' answers until then, so a server that held the answer would time out here.
;; Any other question (the server's offer of common questions for "ask…") is answered with
;; its last choice, recorded with the others under `offered'.
;; The outcome goes as JSON to $DEEPTHINK_TEST_RESULT; a failure exits with code 1.

(require 'cl-lib)
(require 'json)

(defconst deepthink-test-wait 60 "Seconds any wait may take: a safety net only.")

(defvar deepthink-test-results (list (cons 'ok :json-false)))

(defun deepthink-test-env (name)
  (or (getenv name) (error "%s is not set" name)))

(defun deepthink-test-record (key value)
  (push (cons key value) deepthink-test-results))

(defun deepthink-test-wait-for (what condition)
  (let ((deadline (+ (float-time) deepthink-test-wait)))
    (while (not (funcall condition))
      (when (> (float-time) deadline)
        (error "Timed out waiting for %s" what))
      (accept-process-output nil 0.05))))

(defun deepthink-test-checkpoint (name)
  (let ((dir (deepthink-test-env "DEEPTHINK_TEST_CHECKPOINTS")))
    (write-region "" nil (expand-file-name (concat name ".reached") dir))
    (deepthink-test-wait-for
     (format "the test to go on after checkpoint %s" name)
     (lambda () (file-exists-p (expand-file-name (concat name ".go") dir))))))

(defun deepthink-test-finish (ok)
  (setcdr (assq 'ok deepthink-test-results) (if ok t :json-false))
  (with-temp-file (deepthink-test-env "DEEPTHINK_TEST_RESULT")
    (insert (json-encode deepthink-test-results)))
  (kill-emacs (if ok 0 1)))

(defun deepthink-test-choose (prompt collection &rest _)
  (let ((action (deepthink-test-env "DEEPTHINK_TEST_ACTION"))
        (choices (all-completions "" collection)))
    (if (member action choices)
        action
      (deepthink-test-record 'offered (vconcat choices))
      (deepthink-test-record 'offer-prompt prompt)
      (car (last choices)))))

(defun deepthink-test-run ()
  (advice-add 'completing-read :override #'deepthink-test-choose)
  (load (deepthink-test-env "DEEPTHINK_TEST_SETUP") nil t)
  (find-file (deepthink-test-env "DEEPTHINK_TEST_FILE"))
  (python-mode)
  ;; eglot-ensure connects after the command that opened the file; batch mode runs none.
  (run-hooks 'post-command-hook)
  (deepthink-test-wait-for "eglot to manage the buffer"
                           (lambda () (and (eglot-current-server) eglot--managed-mode)))
  (goto-char (point-min))
  (forward-line 3)
  (let* ((beg (point))
         (end (progn (forward-line 2) (point)))
         (titles (mapcar (lambda (action) (plist-get action :title))
                         (eglot-code-actions beg end))))
    (deepthink-test-record 'titles (vconcat titles))
    ;; The user picks from eglot's menu (a keyboard event, not a mouse menu).
    (let ((last-nonmenu-event ?\r))
      (eglot-code-actions beg end nil t)))
  (deepthink-test-checkpoint "returned")
  (let ((synthesis (deepthink-test-env "DEEPTHINK_TEST_SYNTHESIS")))
    (deepthink-test-wait-for
     "the comment"
     (lambda ()
       (save-excursion
         (goto-char (point-min))
         (let ((code (search-forward "def divide(a, b):" nil t)))
           (and code (search-backward synthesis nil t)))))))
  (deepthink-test-record 'text (buffer-substring-no-properties (point-min) (point-max)))
  (deepthink-test-record 'binding (symbol-name (lookup-key eglot-mode-map (kbd "C-c d"))))
  ;; The README's cancel command, with nothing left to cancel.
  (deepthink-test-record 'cancel (call-interactively #'deepthink-cancel)))

(condition-case err
    (progn (deepthink-test-run) (deepthink-test-finish t))
  (error
   (deepthink-test-record 'error (error-message-string err))
   (deepthink-test-finish nil)))

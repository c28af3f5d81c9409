// Validation of the sign-up form, shared by the browser and the API server.

'use strict';

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const MIN_PASSWORD = 12;

function checkEmail(value) {
  if (typeof value !== 'string' || value.trim() === '') {
    return 'Enter your email address.';
  }
  return EMAIL.test(value.trim()) ? null : 'Enter an email address like name@example.com.';
}

function checkPassword(value, email) {
  if (typeof value !== 'string' || value.length < MIN_PASSWORD) {
    return `Use at least ${MIN_PASSWORD} characters.`;
  }
  const emailName = typeof email === 'string' ? email.split('@')[0].toLowerCase() : '';
  if (emailName.length >= 3 && value.toLowerCase().includes(emailName)) {
    return 'Do not use your email name in the password.';
  }
  return null;
}

function checkAge(value) {
  const age = Number(value);
  if (!Number.isInteger(age)) {
    return 'Enter your age in whole years.';
  }
  if (age < 16) {
    return 'You must be 16 or older.';
  }
  return age <= 130 ? null : 'Enter your real age.';
}

/** Every problem of the form, keyed by field; an empty object when the form is valid. */
function validateSignup(form) {
  const problems = {};
  const checks = {
    email: checkEmail(form.email),
    password: checkPassword(form.password, form.email),
    age: checkAge(form.age),
  };
  for (const [field, problem] of Object.entries(checks)) {
    if (problem !== null) {
      problems[field] = problem;
    }
  }
  return problems;
}

module.exports = { validateSignup, checkEmail, checkPassword, checkAge };

// Import contacts from an uploaded CSV into the CRM, one API call per contact.

'use strict';

const REQUIRED = ['email', 'firstName', 'lastName'];

function parseCsv(text) {
  const [header, ...rows] = text.trim().split(/\r?\n/);
  const columns = header.split(',').map((name) => name.trim());
  return rows
    .filter((row) => row.trim() !== '')
    .map((row) => {
      const cells = row.split(',');
      return Object.fromEntries(columns.map((name, i) => [name, (cells[i] || '').trim()]));
    });
}

function validate(contact) {
  const missing = REQUIRED.filter((field) => !contact[field]);
  if (missing.length > 0) {
    return `missing ${missing.join(', ')}`;
  }
  if (!/^[^@\s]+@[^@\s]+$/.test(contact.email)) {
    return `invalid email ${contact.email}`;
  }
  return null;
}

async function importContacts(text, api) {
  const contacts = parseCsv(text);
  const report = { imported: 0, rejected: [] };
  contacts.forEach(async (contact, index) => {
    const problem = validate(contact);
    if (problem) {
      report.rejected.push({ row: index + 2, problem });
      return;
    }
    await api.createContact(contact);
    report.imported += 1;
  });
  return report;
}

module.exports = { parseCsv, validate, importContacts };

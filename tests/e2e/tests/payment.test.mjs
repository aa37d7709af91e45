// Level 4: a fee paid at filing through the stand-in VNPay gateway inside the binary
// (DVC_PAYMENT=sandbox), clicked like a person with JavaScript off: the fee and how it was
// computed on the review page, "Gửi thông tin" → the gateway, "Hủy giao dịch" → the result page,
// retry from the confirmation page, "Thanh toán" → paid. Every page audited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.mjs';
import { launch, newPage, andWait } from '../lib/browser.mjs';
import { audit, writeSummary } from '../lib/audit.mjs';
import { AGENCY_NAME } from '../lib/data.mjs';

let srv;
let browser;
before(async () => {
  [srv, browser] = await Promise.all([startServer({ captcha: 'off', extraEnv: { DVC_PAYMENT: 'sandbox' } }), launch()]);
});
after(async () => {
  writeSummary('payment');
  await browser?.close();
  await srv?.stop();
});

test('a citizen pays the fee at filing: cancel at the gateway, retry, pay (no JavaScript)', { timeout: 120_000 }, async () => {
  const page = await newPage(browser, { javaScript: false });
  await page.goto(`${srv.url}/thu-tuc/1.004873/nop-ho-so`);
  await page.getByLabel('Cơ quan giải quyết').selectOption({ label: AGENCY_NAME });
  await page.getByLabel('Họ, chữ đệm và tên', { exact: true }).fill('Lê Văn Nam');
  await page.getByLabel('Ngày, tháng, năm sinh', { exact: true }).fill('02/03/1990');
  await page.getByLabel('Số định danh cá nhân (số Căn cước, Căn cước công dân)').fill('031090007777');
  await page.getByLabel('Số điện thoại di động').fill('0912345679');
  await page.getByLabel('Thư điện tử (email)').fill('nam.le@example.vn');
  await page.getByLabel('Nơi cư trú').fill('Số 5 phố Lạch Tray, phường Ngô Quyền, Hải Phòng');
  await page.getByRole('radio', { name: 'Bản thân người nộp hồ sơ' }).check();
  await page.getByLabel('Tình trạng hôn nhân hiện tại').selectOption({ label: 'Chưa đăng ký kết hôn với ai' });
  await page.getByLabel('Mục đích sử dụng Giấy xác nhận tình trạng hôn nhân').selectOption({ label: 'Mục đích khác' });
  await page.getByLabel('Số bản đề nghị cấp').fill('2');
  await page.getByLabel(/^Tôi cam đoan/).check();
  await andWait(page, () => page.getByRole('button', { name: 'Tiếp tục' }).click());

  // The review page: the amount and how it was computed.
  assert.match(page.url(), /\/nop-ho-so\/kiem-tra$/);
  const review = await page.locator('main').innerText();
  assert.ok(review.includes('2 bản × 10.000 đồng = 20.000 đồng'), review);
  assert.ok(review.includes('Thanh toán trực tuyến khi nộp hồ sơ'), review);
  await audit(page, 'p1-kiem-tra-phi');

  // "Gửi thông tin" → the (stand-in) gateway.
  await andWait(page, () => page.getByRole('button', { name: 'Gửi thông tin' }).click());
  assert.match(page.url(), /\/sandbox\/vnpay\/paymentv2\/vpcpay\.html\?.*vnp_SecureHash=[0-9a-f]{128}/);
  assert.ok((await page.locator('main').innerText()).includes('20.000 đồng'));
  await audit(page, 'p2-cong-thanh-toan');

  // "Hủy giao dịch" → the result page says so; the dossier still waits for payment.
  await andWait(page, () => page.getByRole('button', { name: 'Hủy giao dịch' }).click());
  assert.match(page.url(), /\/thanh-toan\/vnpay\/ket-qua\?/);
  let result = await page.locator('main').innerText();
  assert.ok(result.includes('Thanh toán chưa thành công') && result.includes('Khách hàng hủy giao dịch'), result);
  await audit(page, 'p3-ket-qua-huy');

  // Retry from the confirmation page of the same browser.
  await andWait(page, () => page.getByRole('link', { name: 'trang xác nhận hồ sơ' }).click());
  assert.match(page.url(), /\/ho-so\/[^/]+\/da-nop$/);
  const confirmation = await page.locator('main').innerText();
  assert.ok(confirmation.includes('chờ thanh toán') && confirmation.includes('Đã hủy giao dịch thanh toán'), confirmation);
  await audit(page, 'p4-da-nop-cho-thanh-toan');
  await andWait(page, () => page.getByRole('button', { name: 'Thanh toán 20.000 đồng qua VNPAY' }).click());
  assert.match(page.url(), /\/sandbox\/vnpay\/paymentv2\/vpcpay\.html\?/);

  // "Thanh toán" → paid (the IPN came first).
  await andWait(page, () => page.getByRole('button', { name: 'Thanh toán', exact: true }).click());
  result = await page.locator('main').innerText();
  assert.ok(result.includes('Đã thanh toán thành công'), result);
  await audit(page, 'p5-ket-qua-da-thanh-toan');
  const code = (await page.locator('dd').first().innerText()).trim();
  const status = await (await fetch(`${srv.url}/api/v1/dossiers/${encodeURIComponent(code)}/status`)).json();
  assert.equal(status.status, 'submitted');
  assert.deepEqual(status.payment, { status: 'paid', amount_vnd: 20000 });
  await page.context().close();
});

// Stock levels for the warehouse dashboard: reservations and low-stock alerts.

export interface StockItem {
  sku: string;
  name: string;
  quantity?: number;
  reorderLevel: number;
}

export interface Alert {
  sku: string;
  message: string;
}

export class UnknownSku extends Error {
  constructor(sku: string) {
    super(`unknown SKU ${sku}`);
  }
}

export class Inventory {
  private readonly items = new Map<string, StockItem>();

  add(item: StockItem): void {
    this.items.set(item.sku, { ...item });
  }

  available(sku: string): number {
    const item = this.items.get(sku);
    if (item === undefined) {
      throw new UnknownSku(sku);
    }
    return item.quantity ?? 0;
  }

  reserve(sku: string, count: number): boolean {
    const have = this.available(sku);
    if (count <= 0 || count > have) {
      return false;
    }
    this.items.get(sku)!.quantity = have - count;
    return true;
  }

  alerts(): Alert[] {
    const alerts: Alert[] = [];
    for (const item of this.items.values()) {
      if (!item.quantity) {
        alerts.push({ sku: item.sku, message: `${item.name}: stock count missing` });
      } else if (item.quantity <= item.reorderLevel) {
        alerts.push({ sku: item.sku, message: `${item.name}: ${item.quantity} left, reorder` });
      }
    }
    return alerts;
  }
}

